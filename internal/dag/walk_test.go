package dag

import (
	"context"
	"errors"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
)

// recorder logs fn calls so tests can check ordering after the walk.
type recorder struct {
	mu     sync.Mutex
	events []string // "start v" / "end v", in real order
	calls  map[string]int
}

func (r *recorder) log(ev, v string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev+" "+v)
	if ev == "start" {
		if r.calls == nil {
			r.calls = map[string]int{}
		}
		r.calls[v]++
	}
}

func (r *recorder) called() []string {
	var vs []string
	for v := range r.calls {
		vs = append(vs, v)
	}
	slices.Sort(vs)
	return vs
}

func TestWalkRespectsDependencies(t *testing.T) {
	big := layeredGraph(20, 15)
	tests := []struct {
		name string
		g    *Graph[string]
	}{
		{"empty", New[string]()},
		{"single", build([]string{"a"}, nil)},
		{"chain", build(nil, []edge{{"a", "b"}, {"b", "c"}, {"c", "d"}})},
		{"diamond", build(nil, []edge{{"top", "left"}, {"top", "right"}, {"left", "bottom"}, {"right", "bottom"}})},
		{"layered", big},
	}
	for _, tt := range tests {
		for _, par := range []int{1, 4, 64} {
			var rec recorder
			err := tt.g.Walk(context.Background(), par, func(_ context.Context, v string) error {
				rec.log("start", v)
				rec.log("end", v)
				return nil
			})
			if err != nil {
				t.Fatalf("%s/%d: Walk() = %v", tt.name, par, err)
			}
			if got, want := rec.called(), tt.g.Vertices(); !slices.Equal(got, want) {
				t.Errorf("%s/%d: called %v, want %v", tt.name, par, got, want)
			}
			for v, n := range rec.calls {
				if n != 1 {
					t.Errorf("%s/%d: %s called %d times", tt.name, par, v, n)
				}
			}
			pos := map[string]int{}
			for i, ev := range rec.events {
				pos[ev] = i
			}
			for _, v := range tt.g.Vertices() {
				for _, d := range tt.g.DependsOn(v) {
					if pos["end "+d] > pos["start "+v] {
						t.Errorf("%s/%d: %s started before its dependency %s ended", tt.name, par, v, d)
					}
				}
			}
		}
	}
}

func TestWalkCapsConcurrency(t *testing.T) {
	tests := []struct {
		parallelism, vertices, want int
	}{
		{parallelism: 3, vertices: 8, want: 3},
		{parallelism: 1, vertices: 4, want: 1},
		{parallelism: 0, vertices: 4, want: 1},
		{parallelism: -5, vertices: 4, want: 1},
		{parallelism: 100, vertices: 6, want: 6},
	}
	for _, tt := range tests {
		g := New[int]()
		for i := range tt.vertices {
			g.Add(i)
		}
		var cur, peak atomic.Int32
		started := make(chan struct{}, tt.vertices)
		release := make(chan struct{})
		done := make(chan error)
		go func() {
			done <- g.Walk(context.Background(), tt.parallelism, func(context.Context, int) error {
				n := cur.Add(1)
				for {
					p := peak.Load()
					if n <= p || peak.CompareAndSwap(p, n) {
						break
					}
				}
				started <- struct{}{}
				<-release // hold the slot until the cap has certainly been reached
				cur.Add(-1)
				return nil
			})
		}()
		for range tt.want {
			<-started
		}
		close(release)
		if err := <-done; err != nil {
			t.Fatalf("parallelism %d: Walk() = %v", tt.parallelism, err)
		}
		if got := int(peak.Load()); got != tt.want {
			t.Errorf("parallelism %d: peak concurrency %d, want %d", tt.parallelism, got, tt.want)
		}
		if got := len(started); got != tt.vertices-tt.want {
			t.Errorf("parallelism %d: %d calls after release, want %d", tt.parallelism, got, tt.vertices-tt.want)
		}
	}
}

func TestWalkFailure(t *testing.T) {
	errBoom := errors.New("boom")
	errBang := errors.New("bang")
	// a -> b -> c, f -> c and f -> e, d -> e: c failing must skip b, a and
	// f (which also depends on the healthy e) while e and d still run.
	edges := []edge{{"a", "b"}, {"b", "c"}, {"f", "c"}, {"f", "e"}, {"d", "e"}}
	tests := []struct {
		name       string
		fail       map[string]error
		wantCalled []string
		wantErr    string
		wantIs     []error
	}{
		{
			name:       "one failure",
			fail:       map[string]error{"c": errBoom},
			wantCalled: []string{"c", "d", "e"},
			wantErr:    "c: boom",
			wantIs:     []error{errBoom},
		},
		{
			// Errors come out sorted by vertex, whatever order they happened in.
			name:       "two failures",
			fail:       map[string]error{"d": errBang, "c": errBoom},
			wantCalled: []string{"c", "d", "e"},
			wantErr:    "c: boom\nd: bang",
			wantIs:     []error{errBoom, errBang},
		},
		{
			name:       "root failure skips everything above it",
			fail:       map[string]error{"e": errBang},
			wantCalled: []string{"b", "c", "e", "a"},
			wantErr:    "e: bang",
			wantIs:     []error{errBang},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(nil, edges)
			var rec recorder
			var active atomic.Int32
			err := g.Walk(context.Background(), 2, func(_ context.Context, v string) error {
				active.Add(1)
				defer active.Add(-1)
				rec.log("start", v)
				return tt.fail[v]
			})
			if n := active.Load(); n != 0 {
				t.Errorf("Walk returned with %d calls still running", n)
			}
			want := slices.Sorted(slices.Values(tt.wantCalled))
			if got := rec.called(); !slices.Equal(got, want) {
				t.Errorf("called %v, want %v", got, want)
			}
			if err == nil || err.Error() != tt.wantErr {
				t.Fatalf("Walk() = %v, want %q", err, tt.wantErr)
			}
			for _, target := range tt.wantIs {
				if !errors.Is(err, target) {
					t.Errorf("errors.Is(err, %v) = false", target)
				}
			}
		})
	}
}

func TestWalkCancel(t *testing.T) {
	errInterrupted := errors.New("interrupted")
	tests := []struct {
		name string
		// run drives the walk; it returns Walk's error.
		run          func(t *testing.T, rec *recorder) error
		wantCalled   []string
		wantCanceled bool
		wantErr      string
	}{
		{
			name: "already cancelled",
			run: func(t *testing.T, rec *recorder) error {
				ctx, cancel := context.WithCancel(context.Background())
				cancel()
				g := build([]string{"a", "b"}, nil)
				return g.Walk(ctx, 4, func(_ context.Context, v string) error {
					rec.log("start", v)
					return nil
				})
			},
			wantCanceled: true,
			wantErr:      "context canceled",
		},
		{
			// trigger cancels while slow is running: slow is allowed to
			// finish (its error is kept) and after, which depends on
			// trigger, never starts.
			name: "cancelled mid-walk",
			run: func(t *testing.T, rec *recorder) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				g := build([]string{"slow"}, []edge{{"after", "trigger"}})
				slowStarted := make(chan struct{})
				return g.Walk(ctx, 2, func(ctx context.Context, v string) error {
					rec.log("start", v)
					switch v {
					case "slow":
						close(slowStarted)
						<-ctx.Done()
						return errInterrupted
					case "trigger":
						<-slowStarted
						cancel()
					}
					return nil
				})
			},
			wantCalled:   []string{"slow", "trigger"},
			wantCanceled: true,
			wantErr:      "context canceled\nslow: interrupted",
		},
		{
			// Cancelling after the last vertex has been called skipped
			// nothing, so the walk counts as complete.
			name: "cancelled by the last vertex",
			run: func(t *testing.T, rec *recorder) error {
				ctx, cancel := context.WithCancel(context.Background())
				defer cancel()
				g := build(nil, []edge{{"last", "first"}})
				return g.Walk(ctx, 1, func(_ context.Context, v string) error {
					rec.log("start", v)
					if v == "last" {
						cancel()
					}
					return nil
				})
			},
			wantCalled: []string{"first", "last"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			err := tt.run(t, &rec)
			if got := rec.called(); !slices.Equal(got, tt.wantCalled) {
				t.Errorf("called %v, want %v", got, tt.wantCalled)
			}
			if got := errors.Is(err, context.Canceled); got != tt.wantCanceled {
				t.Errorf("errors.Is(%v, context.Canceled) = %v, want %v", err, got, tt.wantCanceled)
			}
			gotErr := ""
			if err != nil {
				gotErr = err.Error()
			}
			if gotErr != tt.wantErr {
				t.Errorf("Walk() = %q, want %q", gotErr, tt.wantErr)
			}
		})
	}
}

func TestWalkCycle(t *testing.T) {
	g := build([]string{"ok"}, []edge{{"a", "b"}, {"b", "a"}})
	called := false
	err := g.Walk(context.Background(), 4, func(context.Context, string) error {
		called = true
		return nil
	})
	var ce *CycleError[string]
	if !errors.As(err, &ce) {
		t.Fatalf("Walk() = %v, want *CycleError", err)
	}
	if called {
		t.Error("fn called on a cyclic graph")
	}
	if got, want := err.Error(), "dependency cycle: a -> b -> a"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}
