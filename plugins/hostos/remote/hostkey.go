package remote

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

// HostKeyError is a host whose SSH host key known_hosts does not vouch
// for: unknown (no line for it), a mismatch (lines with other keys: the
// host was reinstalled, or someone is in the middle) or revoked. It is
// never retried: the operator has to decide.
type HostKeyError struct {
	Host      string // the host's name in the inventory
	Addr      string // host:port as dialled (and as known_hosts is searched)
	Files     []string
	Presented ssh.PublicKey
	// Want are the keys known_hosts has for the host; empty when it has
	// none (unknown host).
	Want    []knownhosts.KnownKey
	Revoked *knownhosts.KnownKey
}

func (e *HostKeyError) Error() string {
	fp := ssh.FingerprintSHA256(e.Presented)
	files := strings.Join(e.Files, ", ")
	hostOnly := e.Addr
	if h, p, err := net.SplitHostPort(e.Addr); err == nil {
		hostOnly = h
		if p != "22" {
			hostOnly = "[" + h + "]:" + p
		}
	}
	switch {
	case e.Revoked != nil:
		return fmt.Sprintf("host key of %s (%s) is REVOKED: it presents %s key %s, marked @revoked at %s:%d; refusing to connect. Find out why the key was revoked before going on",
			e.Host, e.Addr, e.Presented.Type(), fp, e.Revoked.Filename, e.Revoked.Line)
	case len(e.Want) == 0:
		return fmt.Sprintf("host key of %s (%s) is unknown: no line for %s in known_hosts (%s); it presents %s key %s. Check that fingerprint on the host's console (ssh-keygen -lf /etc/ssh/ssh_host_%s_key.pub), then add it (ssh-keyscan -p PORT ADDRESS >> FILE); refusing to connect until then",
			e.Host, e.Addr, hostOnly, files, e.Presented.Type(), fp, keyFileType(e.Presented))
	default:
		var known []string
		for _, k := range e.Want {
			known = append(known, fmt.Sprintf("%s key %s at %s:%d", k.Key.Type(), ssh.FingerprintSHA256(k.Key), k.Filename, k.Line))
		}
		return fmt.Sprintf("HOST KEY MISMATCH for %s (%s): it presents %s key %s, but known_hosts has %s. The host may have been reinstalled, or someone may be intercepting the connection: refusing to connect. Check the new fingerprint on the host's console; if it is right, remove the old line (ssh-keygen -R %s -f %s) and add the new key",
			e.Host, e.Addr, e.Presented.Type(), fp, strings.Join(known, "; "), hostOnly, e.Want[0].Filename)
	}
}

// keyFileType is the part of /etc/ssh/ssh_host_*_key.pub for a key type.
func keyFileType(k ssh.PublicKey) string {
	switch k.Type() {
	case ssh.KeyAlgoED25519:
		return "ed25519"
	case ssh.KeyAlgoRSA:
		return "rsa"
	case ssh.KeyAlgoECDSA256, ssh.KeyAlgoECDSA384, ssh.KeyAlgoECDSA521:
		return "ecdsa"
	}
	return "*"
}

// hostKeys checks host keys against known_hosts files, or not at all.
type hostKeys struct {
	files    []string
	db       ssh.HostKeyCallback // nil when insecure
	insecure bool
	// probe is a key no host has, used to ask known_hosts which keys it
	// has for a host (see algorithms).
	probe ssh.PublicKey
}

func newHostKeys(files []string, insecure bool) (*hostKeys, error) {
	hk := &hostKeys{files: files, insecure: insecure}
	if insecure {
		return hk, nil
	}
	if len(files) == 0 {
		return nil, errors.New("no known_hosts file: name one (known_hosts_file), or set insecure_ignore_host_key = true for a throwaway test")
	}
	db, err := knownhosts.New(files...)
	if err != nil {
		return nil, fmt.Errorf("read known_hosts: %w", err)
	}
	hk.db = db
	probe, err := probeKey()
	if err != nil {
		return nil, err
	}
	hk.probe = probe
	return hk, nil
}

// callback checks the key a host presents, for the host named name.
func (hk *hostKeys) callback(name string) ssh.HostKeyCallback {
	if hk.insecure {
		return ssh.InsecureIgnoreHostKey()
	}
	return func(addr string, remote net.Addr, key ssh.PublicKey) error {
		err := hk.db(addr, remote, key)
		if err == nil {
			return nil
		}
		he := &HostKeyError{Host: name, Addr: addr, Files: hk.files, Presented: key}
		var ke *knownhosts.KeyError
		var re *knownhosts.RevokedError
		switch {
		case errors.As(err, &ke):
			he.Want = ke.Want
		case errors.As(err, &re):
			he.Revoked = &re.Revoked
		default:
			return fmt.Errorf("check host key of %s (%s): %w", name, addr, err)
		}
		return he
	}
}

// algorithms lists the host key algorithms to ask addr for: those of the
// keys known_hosts has for it. Without this, a server that prefers, say,
// ECDSA while known_hosts holds its Ed25519 key would look like a
// mismatch. Nil (the library's default order) for an unknown host.
func (hk *hostKeys) algorithms(addr string) []string {
	if hk.insecure {
		return nil
	}
	port := 22
	if _, p, err := net.SplitHostPort(addr); err == nil {
		port, _ = strconv.Atoi(p)
	}
	var ke *knownhosts.KeyError
	if err := hk.db(addr, &net.TCPAddr{IP: net.IPv4zero, Port: port}, hk.probe); !errors.As(err, &ke) {
		return nil
	}
	var algos []string
	seen := map[string]bool{}
	for _, k := range ke.Want {
		for _, a := range algorithmsForKey(k.Key.Type()) {
			if !seen[a] {
				seen[a] = true
				algos = append(algos, a)
			}
		}
	}
	return algos
}

// algorithmsForKey maps a key type to the signature algorithms that prove
// it: an RSA key signs with SHA-2 (or SHA-1 for old servers).
func algorithmsForKey(t string) []string {
	switch t {
	case ssh.KeyAlgoRSA:
		return []string{ssh.KeyAlgoRSASHA512, ssh.KeyAlgoRSASHA256, ssh.KeyAlgoRSA}
	case ssh.CertAlgoRSAv01:
		return []string{ssh.CertAlgoRSASHA512v01, ssh.CertAlgoRSASHA256v01, ssh.CertAlgoRSAv01}
	}
	return []string{t}
}
