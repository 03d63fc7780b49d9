package config

import (
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"
	"time"

	"github.com/zclconf/go-cty/cty"
)

// Duration is a wall-clock duration written in HCL as a string such as "15m",
// "1h30m" or "2d". Bare numbers are refused: "900" could mean seconds or
// minutes, and a plan that waits 900 minutes instead of 15 is the kind of
// surprise this tool exists to prevent.
type Duration time.Duration

// D is the standard-library form of d.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String prints d in Go's duration syntax, trimmed of zero units ("15m").
func (d Duration) String() string {
	s := time.Duration(d).String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// maxDays bounds durations well inside time.Duration's ~292 years, so that
// sums of a plan's durations cannot overflow either.
const maxDays = 3660

// ParseDuration parses Go's duration syntax plus a leading whole number of
// days ("2d", "1d12h"), because maintenance windows and soak times are
// naturally counted in days. Negative durations are refused.
func ParseDuration(s string) (Duration, error) {
	orig := s
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, fmt.Errorf("a duration is a string such as \"15m\" or \"1h30m\", not an empty string")
	}
	var days time.Duration
	if i := strings.IndexByte(s, 'd'); i > 0 {
		n, err := strconv.Atoi(s[:i])
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a valid duration: days must be a whole number, as in \"2d\" or \"1d12h\"", orig)
		}
		if n > maxDays {
			return 0, fmt.Errorf("%q is too long: durations are limited to %d days", orig, maxDays)
		}
		days = time.Duration(n) * 24 * time.Hour
		s = s[i+1:]
		if s == "" {
			return Duration(days), nil
		}
	}
	if _, err := strconv.ParseFloat(s, 64); err == nil {
		return 0, fmt.Errorf("%q has no unit: write durations with a unit, such as \"90s\", \"15m\" or \"2h\"", orig)
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, fmt.Errorf("%q is not a valid duration: use a number and a unit (s, m, h, d), such as \"15m\" or \"1h30m\"", orig)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative: durations must be zero or more", orig)
	}
	if d > time.Duration(maxDays)*24*time.Hour-days {
		return 0, fmt.Errorf("%q is too long: durations are limited to %d days", orig, maxDays)
	}
	return Duration(days + d), nil
}

// durationFromValue decodes a cty string into a Duration.
func durationFromValue(v cty.Value) (Duration, error) {
	if v.Type() != cty.String {
		return 0, fmt.Errorf("a duration must be a string such as \"15m\", not a %s", v.Type().FriendlyName())
	}
	return ParseDuration(v.AsString())
}

// CountOrPercent is a number of things written either as a whole count (2)
// or as a percentage of a total ("10%"), as in max_unavailable.
type CountOrPercent struct {
	// Count is the absolute number when IsPercent is false.
	Count int
	// Percent is the percentage (0 to 100) when IsPercent is true.
	Percent float64
	// IsPercent tells which of the two fields holds the value.
	IsPercent bool
}

// Count returns an absolute CountOrPercent.
func Count(n int) CountOrPercent { return CountOrPercent{Count: n} }

// Percent returns a percentage CountOrPercent.
func Percent(p float64) CountOrPercent { return CountOrPercent{Percent: p, IsPercent: true} }

// IsZero reports whether the value allows nothing at all.
func (c CountOrPercent) IsZero() bool {
	if c.IsPercent {
		return c.Percent == 0
	}
	return c.Count == 0
}

// Of resolves c against a total. Percentages round down, as Kubernetes does
// for maxUnavailable, so that a budget is never exceeded by rounding; but a
// non-zero percentage of a non-empty total is at least 1, or a small host set
// could never make progress. The result never exceeds total.
func (c CountOrPercent) Of(total int) int {
	if total <= 0 {
		return 0
	}
	n := c.Count
	if c.IsPercent {
		// The epsilon absorbs binary floating-point error: 9.2% of 750 is
		// 69, not 68.99999….
		n = int(math.Floor(c.Percent*float64(total)/100 + 1e-9))
		if n == 0 && c.Percent > 0 {
			n = 1
		}
	}
	return min(n, total)
}

// AtLeast resolves c as a minimum against a total: percentages round up,
// the safe direction for a minimum (min_available = "50%" of 3 hosts keeps
// 2 up, not 1). The result never exceeds total.
func (c CountOrPercent) AtLeast(total int) int {
	if total <= 0 {
		return 0
	}
	n := c.Count
	if c.IsPercent {
		n = int(math.Ceil(c.Percent*float64(total)/100 - 1e-9))
	}
	return max(0, min(n, total))
}

// String prints c as it is written in HCL: 2 or "10%".
func (c CountOrPercent) String() string {
	if c.IsPercent {
		return strconv.FormatFloat(c.Percent, 'f', -1, 64) + "%"
	}
	return strconv.Itoa(c.Count)
}

// ParseCountOrPercent parses "10%", "2" or "2.5%".
func ParseCountOrPercent(s string) (CountOrPercent, error) {
	t := strings.TrimSpace(s)
	if p, ok := strings.CutSuffix(t, "%"); ok {
		f, err := strconv.ParseFloat(strings.TrimSpace(p), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return CountOrPercent{}, fmt.Errorf("%q is not a valid percentage: write a number followed by %%, such as \"10%%\"", s)
		}
		if f < 0 || f > 100 {
			return CountOrPercent{}, fmt.Errorf("%q is out of range: a percentage must be between 0%% and 100%%", s)
		}
		return Percent(f), nil
	}
	n, err := strconv.Atoi(t)
	if err != nil {
		return CountOrPercent{}, fmt.Errorf("%q is neither a whole number nor a percentage: write 2 or \"10%%\"", s)
	}
	if n < 0 {
		return CountOrPercent{}, fmt.Errorf("%q is negative: a count must be zero or more", s)
	}
	return Count(n), nil
}

// countOrPercentFromValue decodes a cty number or string.
func countOrPercentFromValue(v cty.Value) (CountOrPercent, error) {
	switch v.Type() {
	case cty.Number:
		n, err := wholeNumber(v)
		if err != nil {
			return CountOrPercent{}, err
		}
		if n < 0 {
			return CountOrPercent{}, fmt.Errorf("%d is negative: a count must be zero or more", n)
		}
		return Count(n), nil
	case cty.String:
		return ParseCountOrPercent(v.AsString())
	default:
		return CountOrPercent{}, fmt.Errorf("expected a whole number such as 2 or a percentage such as \"10%%\", not a %s", v.Type().FriendlyName())
	}
}

// wholeNumber converts a cty number to an int, refusing fractions and
// numbers too large for an int.
func wholeNumber(v cty.Value) (int, error) {
	bf := v.AsBigFloat()
	if !bf.IsInt() {
		return 0, fmt.Errorf("%s is not a whole number", bf.Text('g', -1))
	}
	i, acc := bf.Int64()
	if acc != big.Exact || i > math.MaxInt32 || i < math.MinInt32 {
		return 0, fmt.Errorf("%s is out of range", bf.Text('g', -1))
	}
	return int(i), nil
}
