package api

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/escalator-nfv/escalator/internal/control"
)

// FuzzApproveBody: any body either approves one positive wave or changes
// nothing, and never panics.
func FuzzApproveBody(f *testing.F) {
	for _, s := range []string{`{"wave": 1}`, `{"wave": -1}`, `{"wave": "x"}`, `{}`, ``, `[`, `{"wave": 1e99}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest("POST", "/v1/runs/x/approve", strings.NewReader(body))
		var cr control.Request
		err := approveWave(&cr, req)
		switch {
		case err != nil && len(cr.ApprovedWaves) != 0:
			t.Fatalf("error %v but approved %v", err, cr.ApprovedWaves)
		case err == nil && (len(cr.ApprovedWaves) != 1 || cr.ApprovedWaves[0] < 1):
			t.Fatalf("approved %v from %q", cr.ApprovedWaves, body)
		}
	})
}

// FuzzTokenFile: a token file of any content is read or refused with an
// error, never a panic, and a token read back has a known role.
func FuzzTokenFile(f *testing.F) {
	f.Add(`{"format_version":1,"tokens":[{"id":"a","name":"n","role":"viewer","hash":"sha256:00"}]}`)
	f.Add(`{"format_version":2}`)
	f.Add(`{"format_version":1,"tokens":[{"role":"root","hash":"md5:1"}]}`)
	f.Add(`nope`)
	f.Fuzz(func(t *testing.T, content string) {
		path := filepath.Join(t.TempDir(), "tokens.json")
		if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		tk, err := OpenTokens(path)
		if err != nil {
			return
		}
		for _, x := range tk.List() {
			if x.Role.rank() == 0 {
				t.Fatalf("token with unknown role %q accepted", x.Role)
			}
		}
		tk.Verify("esc_" + content)
	})
}
