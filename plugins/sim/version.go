package sim

import (
	"strconv"
	"strings"
)

// CompareVersions orders two version strings: -1 if a < b, 0 if equal, 1
// if a > b. Dotted numeric versions (7.1.0, 26.2.0) compare numerically
// field by field, so 7.10 > 7.9. Anything else falls back to a
// Debian-like rule that is right for the versions packages carry:
//
//   - an epoch "N:" outranks the rest (1:6.2 > 7.1);
//   - runs of digits compare as numbers, runs of letters as text;
//   - when one version is a prefix of the other, the longer one is newer
//     unless the rest starts with "-" or "~" and a letter (a pre-release:
//     7.2.0-rc1 < 7.2.0, 7.2.0~beta < 7.2.0).
func CompareVersions(a, b string) int {
	ea, ra := splitEpoch(a)
	eb, rb := splitEpoch(b)
	if c := compareNumeric(ea, eb); c != 0 {
		return c
	}
	ta, tb := tokenize(ra), tokenize(rb)
	for i := 0; i < len(ta) && i < len(tb); i++ {
		x, y := ta[i], tb[i]
		switch {
		case x.numeric && y.numeric:
			if c := compareNumeric(x.text, y.text); c != 0 {
				return c
			}
		case x.numeric != y.numeric:
			// A number outranks a word in the same place: 7.2.1 > 7.2.rc.
			if x.numeric {
				return 1
			}
			return -1
		default:
			if c := strings.Compare(x.text, y.text); c != 0 {
				return c
			}
		}
	}
	switch {
	case len(ta) == len(tb):
		return 0
	case len(ta) > len(tb):
		if ta[len(tb)].prerelease {
			return -1
		}
		return 1
	default:
		if tb[len(ta)].prerelease {
			return 1
		}
		return -1
	}
}

// MajorVersion returns the first number of a version (after any epoch), or
// false if it does not start with one.
func MajorVersion(v string) (int, bool) {
	_, rest := splitEpoch(v)
	toks := tokenize(rest)
	if len(toks) == 0 || !toks[0].numeric {
		return 0, false
	}
	n, err := strconv.Atoi(toks[0].text)
	return n, err == nil
}

type token struct {
	text    string
	numeric bool
	// prerelease: a word right after "-" or "~".
	prerelease bool
}

func splitEpoch(v string) (epoch, rest string) {
	if i := strings.IndexByte(v, ':'); i > 0 && isDigits(v[:i]) {
		return v[:i], v[i+1:]
	}
	return "0", v
}

func tokenize(v string) []token {
	var toks []token
	sep := byte(0)
	for i := 0; i < len(v); {
		c := v[i]
		switch {
		case isDigit(c):
			j := i
			for j < len(v) && isDigit(v[j]) {
				j++
			}
			toks = append(toks, token{text: v[i:j], numeric: true})
			i, sep = j, 0
		case isLetter(c):
			j := i
			for j < len(v) && isLetter(v[j]) {
				j++
			}
			toks = append(toks, token{text: strings.ToLower(v[i:j]), prerelease: sep == '-' || sep == '~'})
			i, sep = j, 0
		default:
			sep = c
			i++
		}
	}
	return toks
}

// compareNumeric compares digit strings of any length without overflow.
func compareNumeric(a, b string) int {
	a, b = strings.TrimLeft(a, "0"), strings.TrimLeft(b, "0")
	if len(a) != len(b) {
		if len(a) < len(b) {
			return -1
		}
		return 1
	}
	return strings.Compare(a, b)
}

func isDigit(c byte) bool  { return c >= '0' && c <= '9' }
func isLetter(c byte) bool { return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return s != ""
}
