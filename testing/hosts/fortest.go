package hosts

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"
)

// StartForTest starts an environment for a provider's end-to-end test:
// its directory is the test's, its log and the image build's go to the
// test log (the image is cached where $ESCALATOR_HOSTS_IMAGE says), and
// it is stopped when the test ends. A failure to start fails the test.
func StartForTest(t testing.TB, ctx context.Context, o Options) *Env {
	t.Helper()
	if o.Dir == "" {
		o.Dir = t.TempDir()
	}
	if o.Logf == nil {
		o.Logf = t.Logf
	}
	if o.Image.Logf == nil {
		o.Image.Logf = t.Logf
	}
	env, err := Start(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		sctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := env.Stop(sctx); err != nil {
			t.Error(err)
		}
	})
	return env
}

// SSHProviderHCL is the part of a hostos-style provider block (hostos,
// hypervisor) that reaches the environment's hosts: the hosts map with
// their addresses, the client key and known_hosts file, no agent, a
// short connect timeout. Indented for the block's body.
func (e *Env) SSHProviderHCL() string {
	var b strings.Builder
	b.WriteString("  hosts = {\n")
	for _, h := range e.Hosts() {
		fmt.Fprintf(&b, "    %s = { address = %q }\n", h.Name, h.Addr)
	}
	fmt.Fprintf(&b, "  }\n  identity_file    = %q\n  known_hosts_file = %q\n  use_agent        = false\n  connect_timeout  = \"3s\"", e.ClientKeyFile, e.KnownHostsFile)
	return b.String()
}
