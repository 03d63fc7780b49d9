package remote

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"

	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/agent"
)

// Auth is how the provider proves who it is: a private key file, an SSH
// agent, or both (the key first).
type Auth struct {
	// IdentityFile is a private key in OpenSSH, PEM or PKCS#8 form.
	IdentityFile string
	// Passphrase decrypts IdentityFile when it is encrypted.
	Passphrase string
	// AgentSocket is the agent's socket (SSH_AUTH_SOCK); empty: no agent.
	AgentSocket string
}

// methods builds the SSH authentication methods. The agent is dialled
// lazily, at each authentication, so a restarted agent is picked up.
func (a Auth) methods() ([]ssh.AuthMethod, error) {
	var out []ssh.AuthMethod
	if a.IdentityFile != "" {
		signer, err := LoadKey(a.IdentityFile, a.Passphrase)
		if err != nil {
			return nil, err
		}
		out = append(out, ssh.PublicKeys(signer))
	}
	if a.AgentSocket != "" {
		ag := &agentConn{sock: a.AgentSocket}
		out = append(out, ssh.PublicKeysCallback(ag.signers))
	}
	if len(out) == 0 {
		return nil, errors.New("no SSH credentials: set identity_file, or run an ssh-agent (SSH_AUTH_SOCK) holding the key")
	}
	return out, nil
}

// agentConn is one connection to the SSH agent, shared by every dial and
// opened again when the agent was restarted.
type agentConn struct {
	sock string
	mu   sync.Mutex
	conn net.Conn
	ag   agent.ExtendedAgent
}

func (a *agentConn) signers() ([]ssh.Signer, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	for attempt := 0; ; attempt++ {
		if a.conn == nil {
			conn, err := net.Dial("unix", a.sock)
			if err != nil {
				return nil, fmt.Errorf("ssh agent at %s (SSH_AUTH_SOCK): %w", a.sock, err)
			}
			a.conn, a.ag = conn, agent.NewClient(conn)
		}
		s, err := a.ag.Signers()
		if err == nil || attempt > 0 {
			if err != nil {
				err = fmt.Errorf("ssh agent at %s: %w", a.sock, err)
			}
			return s, err
		}
		a.conn.Close()
		a.conn, a.ag = nil, nil
	}
}

// LoadKey reads a private key file.
func LoadKey(path, passphrase string) (ssh.Signer, error) {
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read SSH key: %w", err)
	}
	var signer ssh.Signer
	if passphrase != "" {
		signer, err = ssh.ParsePrivateKeyWithPassphrase(pem, []byte(passphrase))
	} else {
		signer, err = ssh.ParsePrivateKey(pem)
	}
	var missing *ssh.PassphraseMissingError
	if errors.As(err, &missing) {
		return nil, fmt.Errorf("SSH key %s is encrypted: load it into ssh-agent (ssh-add) and leave identity_file unset, or set identity_passphrase", path)
	}
	if err != nil {
		return nil, fmt.Errorf("parse SSH key %s: %w", path, err)
	}
	return signer, nil
}

// probeKey makes a throwaway public key that no host has.
func probeKey() (ssh.PublicKey, error) {
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate a probe key: %w", err)
	}
	return ssh.NewPublicKey(pub)
}
