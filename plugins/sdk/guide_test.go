package sdk

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/hashicorp/go-hclog"
	"github.com/hashicorp/go-plugin"
	"github.com/zclconf/go-cty/cty"

	"github.com/escalator-nfv/escalator/internal/pluginproto"
	pluginv1 "github.com/escalator-nfv/escalator/internal/pluginproto/v1"
)

// The author's guide shows the whole example provider; these tests keep
// the two identical, and check that the example builds and works as a real
// plugin process, so that the guide's promise "this builds" stays true.

const (
	guidePath   = "../../website/docs/plugins/README.md"
	examplePath = "../../examples/provider-hello/main.go"
	// guideMarker is the line after which the guide's copy of main.go is
	// the first ```go block.
	guideMarker = "<!-- examples/provider-hello/main.go -->"
)

// extractGuideExample returns the first ```go block after the marker line.
func extractGuideExample(doc string) (string, error) {
	sc := bufio.NewScanner(strings.NewReader(doc))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	var out strings.Builder
	state := 0 // 0: before the marker, 1: looking for the fence, 2: in the block
	for sc.Scan() {
		line := sc.Text()
		switch state {
		case 0:
			if strings.TrimSpace(line) == guideMarker {
				state = 1
			}
		case 1:
			if strings.TrimSpace(line) == "```go" {
				state = 2
			}
		case 2:
			if strings.TrimSpace(line) == "```" {
				return out.String(), nil
			}
			out.WriteString(line)
			out.WriteByte('\n')
		}
	}
	switch state {
	case 0:
		return "", errors.New("no line " + guideMarker)
	case 1:
		return "", errors.New("no ```go block after " + guideMarker)
	}
	return "", errors.New("the ```go block after " + guideMarker + " is not closed")
}

func TestGuideExampleMatchesFile(t *testing.T) {
	doc, err := os.ReadFile(guidePath)
	if err != nil {
		t.Fatal(err)
	}
	fromGuide, err := extractGuideExample(string(doc))
	if err != nil {
		t.Fatalf("%s: %v", guidePath, err)
	}
	file, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if fromGuide != string(file) {
		g, f := strings.Split(fromGuide, "\n"), strings.Split(string(file), "\n")
		for i := 0; i < len(g) || i < len(f); i++ {
			var gl, fl string
			if i < len(g) {
				gl = g[i]
			}
			if i < len(f) {
				fl = f[i]
			}
			if gl != fl {
				t.Fatalf("%s and %s differ first at line %d of the example:\nguide: %q\nfile:  %q\nCopy the file into the guide.",
					guidePath, examplePath, i+1, gl, fl)
			}
		}
	}
}

func TestExtractGuideExample(t *testing.T) {
	doc := "intro\n```go\nnot this\n```\n" + guideMarker + "\ntext\n```sh\nno\n```\n```go\npackage main\n\n\tx\n```\n```go\nnor this\n```\n"
	got, err := extractGuideExample(doc)
	if err != nil || got != "package main\n\n\tx\n" {
		t.Fatalf("got %q, %v", got, err)
	}
	for _, bad := range []string{"no marker", guideMarker + "\nno block", guideMarker + "\n```go\nunclosed\n"} {
		if _, err := extractGuideExample(bad); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}

// buildExample builds examples/provider-hello as escalator would find it.
func buildExample(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the example with")
	}
	bin := filepath.Join(t.TempDir(), "escalator-provider-hello")
	// Without symbols and DWARF the link is a third faster; the test
	// needs neither.
	cmd := exec.Command(goTool, "build", "-ldflags=-s -w", "-o", bin, "./examples/provider-hello")
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/provider-hello: %v\n%s", err, out)
	}
	return bin
}

// TestExamplePlugin builds the example and runs it as escalator does: by
// hand it explains itself; started through go-plugin it serves the
// protocol.
func TestExamplePlugin(t *testing.T) {
	t.Parallel()
	bin := buildExample(t)

	t.Run("run by hand", func(t *testing.T) {
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), pluginproto.Handshake.MagicCookieKey+"=")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		err := cmd.Run()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("exit: %v, want status 1", err)
		}
		if !strings.Contains(stderr.String(), `the escalator provider plugin "hello" 0.1.0`) {
			t.Fatalf("stderr:\n%s", stderr.String())
		}
	})

	t.Run("served", func(t *testing.T) {
		logs := &syncBuffer{}
		cmd := exec.Command(bin)
		cmd.Env = append(os.Environ(), "ESCALATOR_PLUGIN_LOG_LEVEL=debug")
		client := plugin.NewClient(&plugin.ClientConfig{
			HandshakeConfig:  pluginproto.Handshake,
			VersionedPlugins: map[int]plugin.PluginSet{1: {pluginproto.PluginName: &grpcPlugin{}}},
			AllowedProtocols: []plugin.Protocol{plugin.ProtocolGRPC},
			Cmd:              cmd,
			Logger:           hclog.New(&hclog.LoggerOptions{Output: logs, Level: hclog.Debug}),
			StartTimeout:     10 * time.Second,
		})
		defer client.Kill()
		rpc, err := client.Client()
		if err != nil {
			t.Fatal(err)
		}
		raw, err := rpc.Dispense(pluginproto.PluginName)
		if err != nil {
			t.Fatal(err)
		}
		c := raw.(pluginv1.ProviderClient)
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()

		meta, err := c.GetMetadata(ctx, &pluginv1.GetMetadata_Request{})
		if err != nil || meta.GetName() != "hello" || meta.GetVersion() != "0.1.0" {
			t.Fatalf("metadata: %v %v", meta, err)
		}
		if client.NegotiatedVersion() != 1 {
			t.Errorf("negotiated protocol version %d, want 1", client.NegotiatedVersion())
		}

		// An empty greeting is caught by ValidateConfig, with its path.
		vresp, err := c.ValidateConfig(ctx, &pluginv1.ValidateConfig_Request{Config: mustEncode(t, cty.ObjectVal(map[string]cty.Value{"greeting": cty.StringVal("")}))})
		if err != nil || len(vresp.GetDiagnostics()) != 1 || vresp.GetDiagnostics()[0].GetAttribute().GetSteps()[0].GetAttributeName() != "greeting" {
			t.Fatalf("ValidateConfig: %v %v", vresp, err)
		}

		cresp, err := c.Configure(ctx, &pluginv1.Configure_Request{Config: mustEncode(t, cty.ObjectVal(map[string]cty.Value{"greeting": cty.StringVal("bonjour")}))})
		if err != nil || len(cresp.GetDiagnostics()) != 0 {
			t.Fatalf("Configure: %v %v", cresp, err)
		}

		inv, err := c.ReadInventory(ctx, &pluginv1.ReadInventory_Request{})
		if err != nil {
			t.Fatal(err)
		}
		zones := map[string]bool{}
		instances := 0
		for {
			item, err := inv.Recv()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if h := item.GetHost(); h != nil {
				zones[h.GetAvailabilityZone()] = true
				if h.GetVersions()["hello"] != "1.0.0" {
					t.Errorf("host %s: versions %v", h.GetName(), h.GetVersions())
				}
			}
			if item.GetInstance() != nil {
				instances++
			}
		}
		if len(zones) != 2 || instances != 2 {
			t.Fatalf("inventory: zones %v, %d instances", zones, instances)
		}

		res := execute(ctx, t, c, &pluginv1.ExecuteAction_Request{
			Id: "s1", Kind: pluginv1.ActionKind_UPGRADE, Host: "hello-1", Component: "hello", FromVersion: "1.0.0", ToVersion: "1.1.0",
		})
		if res.err != nil || res.completed == nil || len(res.progress) < 3 {
			t.Fatalf("upgrade: events %q, diagnostics %v, err %v", res.order, res.diags, res.err)
		}
		res = execute(ctx, t, c, &pluginv1.ExecuteAction_Request{
			Id: "s2", Kind: pluginv1.ActionKind_VERIFY, Host: "hello-1", Component: "hello", ToVersion: "1.1.0",
		})
		if res.completed.GetOutputs()["version"] != "1.1.0" {
			t.Fatalf("verify: events %q, diagnostics %v, outputs %v", res.order, res.diags, res.completed.GetOutputs())
		}

		// The provider's slog line reached escalator's log as a parsed
		// JSON entry, with its level and the call's attributes.
		client.Kill()
		if log := logs.String(); !strings.Contains(log, "[INFO]  escalator-provider-hello: bonjour:") || !strings.Contains(log, "step=s1") {
			t.Errorf("plugin log not folded in as expected:\n%s", log)
		}
	})
}
