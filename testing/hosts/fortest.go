package hosts

import (
	"context"
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
