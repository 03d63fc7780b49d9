package vnfm

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Inbox holds asynchronous replies between the API that receives them and
// the apply that waits for them, possibly in another process: one file per
// notification in a directory next to the state (<state stem>.replies/).
type Inbox struct {
	Dir string
	// Poll is how often Wait looks; 0 means 250ms.
	Poll time.Duration
}

// InboxFor returns the inbox that goes with the state file at statePath.
func InboxFor(statePath string) *Inbox {
	return &Inbox{Dir: strings.TrimSuffix(statePath, filepath.Ext(statePath)) + ".replies"}
}

// ErrDuplicate refuses a second reply to one notification (a replayed
// message, or a VNF manager that changed its mind: the first reply
// counts).
var ErrDuplicate = errors.New("this notification already has a reply")

func (ib *Inbox) path(id string) string {
	sum := sha256.Sum256([]byte(id))
	return filepath.Join(ib.Dir, hex.EncodeToString(sum[:16])+".json")
}

// Put stores r, refusing a second reply to the same notification.
func (ib *Inbox) Put(r Reply) error {
	if r.ID == "" {
		return errors.New("a reply must name its notification (id)")
	}
	if err := os.MkdirAll(ib.Dir, 0o700); err != nil {
		return fmt.Errorf("reply inbox: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(ib.Dir, ".reply-*")
	if err != nil {
		return fmt.Errorf("reply inbox: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("reply inbox: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("reply inbox: %w", err)
	}
	tmp.Close()
	// A hard link fails when the name exists: the first reply wins,
	// atomically, even between processes.
	if err := os.Link(tmp.Name(), ib.path(r.ID)); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return ErrDuplicate
		}
		return fmt.Errorf("reply inbox: %w", err)
	}
	return nil
}

// Get returns the reply to notification id, or nil when none came yet.
func (ib *Inbox) Get(id string) (*Reply, error) {
	data, err := os.ReadFile(ib.path(id))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reply inbox: %w", err)
	}
	var r Reply
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("reply inbox %s: %w", ib.path(id), err)
	}
	return &r, nil
}

// Wait returns the reply to notification id when it comes, or ctx's error.
func (ib *Inbox) Wait(ctx context.Context, id string) (*Reply, error) {
	poll := ib.Poll
	if poll <= 0 {
		poll = 250 * time.Millisecond
	}
	for {
		r, err := ib.Get(id)
		if r != nil || err != nil {
			return r, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(poll):
		}
	}
}
