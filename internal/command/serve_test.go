package command

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/command/arguments"
	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/session"
	"github.com/escalator-nfv/escalator/internal/state"
)

func runToken(t *testing.T, args ...string) result {
	t.Helper()
	streams, stdout, stderr := testStreams("")
	code := (&TokenCommand{Meta: Meta{Streams: streams}}).Run(args)
	return result{code, stdout.String(), stderr.String()}
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func get(t *testing.T, client *http.Client, url, secret string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if secret != "" {
		req.Header.Set("Authorization", "Bearer "+secret)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestTokenCommand(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		r := runToken(t, "create", "-name=alice", "-role=operator")
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "esc_") {
			t.Fatalf("create: %d %q %s", r.code, r.stdout, r.stderr)
		}
		secret := strings.TrimSpace(r.stdout)
		b, _ := os.ReadFile(filepath.Join(".escalator", "tokens.json"))
		if strings.Contains(string(b), secret) || !strings.Contains(string(b), "sha256:") {
			t.Errorf("token file keeps the secret or no hash: %s", b)
		}
		if fi, _ := os.Stat(filepath.Join(".escalator", "tokens.json")); fi.Mode().Perm() != 0o600 {
			t.Errorf("token file mode %v, want 0600", fi.Mode().Perm())
		}
		r = runToken(t, "list")
		if !strings.Contains(r.stdout, "alice") || strings.Contains(r.stdout, "sha256") {
			t.Errorf("list: %s", r.stdout)
		}
		id := strings.Fields(r.stdout)[0]
		for _, bad := range [][]string{{}, {"create", "-name=x"}, {"create", "-name=x", "-role=root"}, {"delete"}, {"rotate"}} {
			if r := runToken(t, bad...); r.code != ExitError {
				t.Errorf("token %v: exit %d", bad, r.code)
			}
		}
		if r := runToken(t, "delete", id); r.code != ExitOK {
			t.Errorf("delete: %d %s", r.code, r.stderr)
		}
	})
}

// selfSigned writes a certificate and key for 127.0.0.1 and returns their
// paths and a client that trusts the certificate.
func selfSigned(t *testing.T, dir string) (string, string, *http.Client) {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "escalator-test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, _ := x509.MarshalECPrivateKey(key)
	cert, keyf := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	os.WriteFile(cert, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyf, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600)
	pool := x509.NewCertPool()
	c, _ := x509.ParseCertificate(der)
	pool.AddCert(c)
	return cert, keyf, &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
}

func TestStartAPI(t *testing.T) {
	dir := fastQuickstart(t)
	inDir(t, dir, func() {
		cfg, ds := config.Load(".", config.Options{})
		if ds.HasErrors() {
			t.Fatal(ds.Err())
		}
		b, err := session.OpenBackend(cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		// Off loopback without TLS: refused unless forced. (192.0.2.1 is a
		// documentation address no interface has: the forced attempt gets
		// past the check and fails to listen, so the test binds nothing
		// off loopback.)
		if _, err := startAPI(cfg, b, arguments.Listen{Listen: "192.0.2.1:0"}); err == nil || !strings.Contains(err.Error(), "without TLS") {
			t.Errorf("insecure non-loopback listen: %v", err)
		}
		if _, err := startAPI(cfg, b, arguments.Listen{Listen: "192.0.2.1:0", AllowInsecure: true}); err == nil || strings.Contains(err.Error(), "without TLS") || !strings.Contains(err.Error(), "listen on 192.0.2.1:0") {
			t.Errorf("forced insecure listen: %v, want past the TLS check and a listen error", err)
		}
		if _, err := startAPI(cfg, b, arguments.Listen{Listen: "127.0.0.1:0", TLSCert: "x"}); err == nil {
			t.Error("a certificate without a key was accepted")
		}
		cert, key, client := selfSigned(t, t.TempDir())
		a, err := startAPI(cfg, b, arguments.Listen{Listen: "127.0.0.1:0", TLSCert: cert, TLSKey: key})
		if err != nil {
			t.Fatal(err)
		}
		defer a.Shutdown()
		if code, body := get(t, client, a.URL()+"/v1/health", ""); code != 200 || !strings.Contains(a.URL(), "https://") {
			t.Errorf("health over TLS: %d %s (%s)", code, body, a.URL())
		}
		if code, _ := get(t, client, a.URL()+"/v1/runs", ""); code != 401 {
			t.Errorf("runs without a token: %d", code)
		}
	})
}

// TestApplyListenCanaryApproval: apply -listen serves the API, and a
// canary pause waits for an approval through it.
func TestApplyListenCanaryApproval(t *testing.T) {
	dir := fastQuickstart(t, [2]string{"count = 1", "count = 1\n    pause = true"})
	inDir(t, dir, func() {
		secret := strings.TrimSpace(runToken(t, "create", "-name=op", "-role=operator").stdout)
		addr := freeAddr(t)
		var wg sync.WaitGroup
		var r result
		wg.Add(1)
		go func() {
			defer wg.Done()
			r = runApply(t, "-auto-approve", "-listen="+addr)
		}()
		base := "http://" + addr
		// Wait for the run to pause after its canary.
		deadline := time.Now().Add(30 * time.Second)
		for {
			req, _ := http.NewRequest("GET", base+"/v1/runs/current/events", nil)
			req.Header.Set("Authorization", "Bearer "+secret)
			var body []byte
			resp, err := http.DefaultClient.Do(req) // refused until the apply listens
			if err == nil {
				body, _ = io.ReadAll(resp.Body)
				resp.Body.Close()
				if strings.Contains(string(body), "approve it to go on") {
					break
				}
			}
			if time.Now().After(deadline) {
				t.Fatalf("the run did not pause after its canary: %v %s", err, body)
			}
			time.Sleep(100 * time.Millisecond)
		}
		req, _ := http.NewRequest("POST", base+"/v1/runs/current/approve", strings.NewReader(`{"wave": 1}`))
		req.Header.Set("Authorization", "Bearer "+secret)
		resp, err := http.DefaultClient.Do(req)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("approve: %v %v", resp, err)
		}
		resp.Body.Close()
		wg.Wait()
		if r.code != ExitOK {
			t.Fatalf("apply: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if st := statusDoc(t); st.Run.Status != state.RunFinished {
			t.Errorf("run after approval: %s", st.Run.Status)
		}
	})
}
