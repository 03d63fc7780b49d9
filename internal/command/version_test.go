package command

import (
	"encoding/json"
	"runtime"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/internal/version"
)

func TestVersion(t *testing.T) {
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = "1.2.3-test"
	platform := runtime.GOOS + "_" + runtime.GOARCH

	t.Run("human", func(t *testing.T) {
		streams, stdout, stderr := testStreams("")
		c := &VersionCommand{Meta: Meta{Streams: streams}}
		if code := c.Run(nil); code != ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		want := "escalator v1.2.3-test\non " + platform + "\n"
		if diff := cmp.Diff(want, stdout.String()); diff != "" {
			t.Errorf("wrong output (-want +got):\n%s", diff)
		}
		if stderr.Len() > 0 {
			t.Errorf("unexpected stderr:\n%s", stderr)
		}
	})

	t.Run("json", func(t *testing.T) {
		streams, stdout, stderr := testStreams("")
		c := &VersionCommand{Meta: Meta{Streams: streams}}
		if code := c.Run([]string{"-json"}); code != ExitOK {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
		want := `{"version":"1.2.3-test","platform":"` + platform + `","go":"` + runtime.Version() + `"}` + "\n"
		if diff := cmp.Diff(want, stdout.String()); diff != "" {
			t.Errorf("wrong output (-want +got):\n%s", diff)
		}
		var got map[string]string
		if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
			t.Fatalf("output is not JSON: %v", err)
		}
	})

	t.Run("bad arguments", func(t *testing.T) {
		streams, stdout, stderr := testStreams("")
		c := &VersionCommand{Meta: Meta{Streams: streams}}
		if code := c.Run([]string{"-yaml"}); code != ExitError {
			t.Fatalf("exit %d, want %d", code, ExitError)
		}
		if stdout.Len() > 0 {
			t.Errorf("unexpected stdout:\n%s", stdout)
		}
		for _, want := range []string{"Error: flag provided but not defined: -yaml", "escalator version -help"} {
			if !strings.Contains(stderr.String(), want) {
				t.Errorf("stderr does not contain %q:\n%s", want, stderr)
			}
		}
	})
}
