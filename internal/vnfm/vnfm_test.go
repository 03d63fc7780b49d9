package vnfm

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestSignVerify(t *testing.T) {
	now := time.Unix(1_790_000_000, 0)
	body := []byte(`{"id":"n1"}`)
	h := Sign("s3cret", body, now)
	tests := []struct {
		name           string
		secret, header string
		body           string
		at             time.Time
		want           error
	}{
		{"good", "s3cret", h, string(body), now.Add(time.Minute), nil},
		{"other secret (another VNF manager)", "other", h, string(body), now, ErrBadSignature},
		{"changed body", "s3cret", h, `{"id":"n2"}`, now, ErrBadSignature},
		{"replayed later", "s3cret", h, string(body), now.Add(MaxSkew + time.Second), ErrStale},
		{"from the future", "s3cret", h, string(body), now.Add(-MaxSkew - time.Second), ErrStale},
		{"unsigned", "s3cret", "", string(body), now, ErrNoSignature},
		{"malformed", "s3cret", "v1=abc", string(body), now, ErrBadSignature},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Verify(tt.secret, tt.header, []byte(tt.body), tt.at); !errors.Is(err, tt.want) {
				t.Errorf("Verify = %v, want %v", err, tt.want)
			}
		})
	}
}

func TestReplyCheck(t *testing.T) {
	n := &Notification{ID: "n1", State: StatePlannedMaintenance, Instances: []Instance{
		{ID: "a", AllowedActions: []string{ActionLiveMigrate, ActionMigrate, ActionOwn}},
		{ID: "b", AllowedActions: []string{ActionMigrate, ActionOwn}},
	}}
	tests := []struct {
		reply   Reply
		ack     bool
		wantErr string
	}{
		{Reply{ID: "n1", State: "ACK_PLANNED_MAINTENANCE"}, true, ""},
		{Reply{State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"a": ActionOwn}}, true, ""},
		{Reply{ID: "n1", State: "NACK_PLANNED_MAINTENANCE", Reason: "busy"}, false, ""},
		{Reply{ID: "n2", State: "ACK_PLANNED_MAINTENANCE"}, false, "not \"n1\""},
		{Reply{State: "ACK"}, false, "neither"},
		{Reply{State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"b": ActionLiveMigrate}}, false, "allowed"},
		{Reply{State: "ACK_PLANNED_MAINTENANCE", InstanceActions: map[string]string{"z": ActionOwn}}, false, "does not list"},
	}
	for _, tt := range tests {
		ack, err := tt.reply.Check(n)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%+v: err %v, want %q", tt.reply, err, tt.wantErr)
			}
			continue
		}
		if err != nil || ack != tt.ack {
			t.Errorf("%+v: ack %v err %v, want %v", tt.reply, ack, err, tt.ack)
		}
	}
}

func TestInbox(t *testing.T) {
	ib := InboxFor(t.TempDir() + "/state.json")
	ib.Poll = 5 * time.Millisecond
	if r, err := ib.Get("run/w1/notify/x/maintenance"); r != nil || err != nil {
		t.Fatalf("empty inbox: %v %v", r, err)
	}
	done := make(chan *Reply, 1)
	go func() {
		r, _ := ib.Wait(context.Background(), "run/w1/notify/x/maintenance")
		done <- r
	}()
	if err := ib.Put(Reply{ID: "run/w1/notify/x/maintenance", State: "ACK_PLANNED_MAINTENANCE"}); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r == nil || r.State != "ACK_PLANNED_MAINTENANCE" {
		t.Errorf("waited for %+v", r)
	}
	if err := ib.Put(Reply{ID: "run/w1/notify/x/maintenance", State: "NACK_PLANNED_MAINTENANCE"}); !errors.Is(err, ErrDuplicate) {
		t.Errorf("second reply: %v", err)
	}
	if err := ib.Put(Reply{State: "ACK"}); err == nil {
		t.Error("a reply without id was stored")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := ib.Wait(ctx, "other"); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("wait without reply: %v", err)
	}
}
