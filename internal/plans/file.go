package plans

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/escalator-nfv/escalator/internal/atomicfile"
)

// FormatVersion is the saved plan format. A plan file of another format is
// refused rather than guessed at.
const FormatVersion = 1

// File is a saved plan: the plan and everything it was computed from, so
// that apply can tell whether it still describes the cloud.
type File struct {
	FormatVersion    int       `json:"format_version"`
	EscalatorVersion string    `json:"escalator_version"`
	CreatedAt        time.Time `json:"created_at"`
	// ConfigDigest covers the campaign files and variable values.
	ConfigDigest string `json:"config_digest"`
	// LockDigest covers the lock file (the exact plugins).
	LockDigest string `json:"lock_digest"`
	// InventoryDigest and HostDigests cover the inventory read at
	// InventoryTime.
	InventoryDigest string            `json:"inventory_digest"`
	InventoryTime   time.Time         `json:"inventory_time"`
	HostDigests     map[string]string `json:"host_digests"`
	// Variables are the variable values the plan used, as JSON, sensitive
	// ones included: the file is written readable by its owner only.
	Variables map[string]json.RawMessage `json:"variables,omitempty"`
	Plan      *Plan                      `json:"plan"`
}

// Write saves f to path atomically (a crash leaves the old file or the new
// one, never half of one), readable by its owner only because it holds
// variable values.
func Write(path string, f *File) error {
	// Compact and streamed: a 10,000-host plan is tens of megabytes, and
	// escalator show is how people read it.
	if err := atomicfile.WriteWith(path, 0o600, func(w io.Writer) error { return encodeFile(w, f) }); err != nil {
		return fmt.Errorf("save plan %s: %w", path, err)
	}
	return nil
}

// Read loads a saved plan, refusing files that are not plans or are of
// another format version.
func Read(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read plan: %w", err)
	}
	var probe struct {
		FormatVersion *int `json:"format_version"`
	}
	if err := json.Unmarshal(b, &probe); err != nil || probe.FormatVersion == nil {
		return nil, fmt.Errorf("%s is not an escalator plan file (make one with escalator plan -out=FILE)", path)
	}
	if *probe.FormatVersion != FormatVersion {
		return nil, fmt.Errorf("%s is a plan of format %d; this escalator reads format %d. Run escalator plan again with this version", path, *probe.FormatVersion, FormatVersion)
	}
	var f File
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("%s is corrupted: %v. Run escalator plan again", path, err)
	}
	if f.Plan == nil {
		return nil, fmt.Errorf("%s holds no plan; run escalator plan again", path)
	}
	return &f, nil
}

// Current is what a saved plan is checked against at apply time.
type Current struct {
	EscalatorVersion string
	ConfigDigest     string
	LockDigest       string
	InventoryDigest  string
	HostDigests      map[string]string
}

// StaleError says why a saved plan no longer applies.
type StaleError struct {
	Reasons []string
}

func (e *StaleError) Error() string {
	return "plan is stale: " + strings.Join(e.Reasons, "; ") + ". Run escalator plan again and review the new plan"
}

// CheckStale compares a saved plan with the present. Every difference is
// reported, and for the inventory, which hosts changed.
func (f *File) CheckStale(cur Current) error {
	var reasons []string
	if f.EscalatorVersion != cur.EscalatorVersion {
		reasons = append(reasons, fmt.Sprintf("it was made by escalator %s, this is %s", f.EscalatorVersion, cur.EscalatorVersion))
	}
	if f.ConfigDigest != cur.ConfigDigest {
		reasons = append(reasons, "the campaign's files or variable values changed since it was made")
	}
	if f.LockDigest != cur.LockDigest {
		reasons = append(reasons, "the provider lock file changed since it was made")
	}
	if f.InventoryDigest != cur.InventoryDigest {
		changed := ChangedHosts(f.HostDigests, cur.HostDigests)
		when := f.InventoryTime.UTC().Format(time.RFC3339)
		switch {
		case len(changed) == 0:
			reasons = append(reasons, fmt.Sprintf("the inventory (server groups or VNF managers) changed since %s", when))
		default:
			shown := changed
			if len(shown) > 5 {
				shown = append(shown[:5:5], fmt.Sprintf("and %d more", len(changed)-5))
			}
			reasons = append(reasons, fmt.Sprintf("%d host%s changed since %s (%s)", len(changed), plural(len(changed)), when, strings.Join(shown, ", ")))
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return &StaleError{Reasons: reasons}
}

// ChangedHosts lists hosts whose digest differs, appeared or disappeared.
func ChangedHosts(then, now map[string]string) []string {
	var out []string
	for h, d := range then {
		if now[h] != d {
			out = append(out, h)
		}
	}
	for h := range now {
		if _, ok := then[h]; !ok {
			out = append(out, h)
		}
	}
	sort.Strings(out)
	return out
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// IsStale reports whether err is a StaleError.
func IsStale(err error) bool {
	var se *StaleError
	return errors.As(err, &se)
}
