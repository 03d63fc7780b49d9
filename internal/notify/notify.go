// Package notify tells VNF managers about maintenance. The webhook mode
// POSTs a JSON notification signed with HMAC-SHA256 and takes the HTTP
// response as the VNF manager's reply (the reply endpoint of the HTTP API
// comes later); the none mode sends nothing.
package notify

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/engine"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// SignatureHeader carries "sha256=<hex HMAC of the body>" when the notify
// block has a secret, so the VNF manager can check the sender.
const SignatureHeader = "X-Escalator-Signature"

// Webhook is the engine's Notifier for a campaign's notify blocks.
type Webhook struct {
	// Config gives each notify block's mode and secret (the plan does not
	// hold secrets).
	Config *config.Config
	Client *http.Client
}

// Notify sends one notification and waits for the reply, at most the
// notify block's reply_timeout.
func (w *Webhook) Notify(ctx context.Context, n plans.Notification, msg engine.Notification) error {
	nb := w.block(msg, n)
	if nb != nil && nb.Mode == config.NotifyNone {
		return nil
	}
	body, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, n.ReplyTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.URL, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("notify %s: %w", n.Notify, err)
	}
	req.Header.Set("Content-Type", "application/json")
	if nb != nil && nb.Secret != "" {
		mac := hmac.New(sha256.New, []byte(nb.Secret))
		mac.Write(body)
		req.Header.Set(SignatureHeader, "sha256="+hex.EncodeToString(mac.Sum(nil)))
	}
	client := w.Client
	if client == nil {
		client = &http.Client{}
	}
	resp, err := client.Do(req)
	if err != nil {
		// Unreachable or silent, the VNF manager gave no answer: the notify
		// block's on_timeout decides, as for a late reply. Only an explicit
		// refusal (an HTTP error status) stops the wave by itself.
		return fmt.Errorf("%w: %s at %s: %v", engine.ErrNoReply, n.Notify, n.URL, err)
	}
	defer resp.Body.Close()
	reply, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("VNF manager %s refused the maintenance: HTTP %d %s", n.Notify, resp.StatusCode, bytes.TrimSpace(reply))
	}
	return nil
}

func (w *Webhook) block(msg engine.Notification, n plans.Notification) *config.Notify {
	if w.Config == nil {
		return nil
	}
	for _, r := range w.Config.Rollouts {
		for _, nb := range r.Notify {
			if nb.Name == n.Notify && nb.URL == n.URL {
				return nb
			}
		}
	}
	return nil
}

var _ engine.Notifier = (*Webhook)(nil)
