package notify

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/plans"
)

func TestWebhook(t *testing.T) {
	var gotSig string
	var gotBody []byte
	status, delay := http.StatusOK, time.Duration(0)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotSig = r.Header.Get(SignatureHeader)
		gotBody, _ = io.ReadAll(r.Body)
		time.Sleep(delay)
		w.WriteHeader(status)
	}))
	defer srv.Close()
	cfg := &config.Config{Rollouts: map[string]*config.Rollout{"r": {Notify: []*config.Notify{{Name: "vnfm", URL: srv.URL, Mode: config.NotifyWebhook, Secret: "k"}}}}}
	w := &Webhook{Config: cfg}
	n := plans.Notification{Notify: "vnfm", URL: srv.URL, ReplyTimeout: time.Second}
	msg := engine.Notification{RunID: "r1", Wave: 1, Event: "maintenance", Instances: []string{"vm1"}}

	if err := w.Notify(context.Background(), n, msg); err != nil {
		t.Fatal(err)
	}
	mac := hmac.New(sha256.New, []byte("k"))
	mac.Write(gotBody)
	if gotSig != "sha256="+hex.EncodeToString(mac.Sum(nil)) {
		t.Errorf("signature %q does not match the body", gotSig)
	}

	status = http.StatusConflict
	if err := w.Notify(context.Background(), n, msg); err == nil {
		t.Error("a refusal is not an error")
	}

	status, delay = http.StatusOK, 300*time.Millisecond
	n.ReplyTimeout = 50 * time.Millisecond
	if err := w.Notify(context.Background(), n, msg); !errors.Is(err, engine.ErrNoReply) {
		t.Errorf("timeout: err = %v, want ErrNoReply", err)
	}
}
