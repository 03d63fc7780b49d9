package dag

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"slices"
)

// Walk calls fn once for every vertex, running at most parallelism calls at
// once (parallelism <= 0 means 1). A vertex is called only after fn has
// returned nil for all of its dependencies; when several vertices are ready,
// the smallest starts first.
//
// If fn fails for a vertex, its transitive dependents are never called, but
// every vertex that does not depend on it still is. If ctx is cancelled, no
// new calls start and Walk waits for the running ones; fn receives ctx so it
// can stop early.
//
// Walk returns nil if every call succeeded. Otherwise it returns
// errors.Join of ctx.Err() (only if cancellation kept some vertex that was
// ready, or would have become ready, from being called) followed by each
// fn error wrapped as "vertex: err", sorted by vertex. If the graph has
// cycles, Walk returns a *CycleError without calling fn.
//
// Walk works on a snapshot taken when it starts, so changes fn makes to the
// graph do not affect the walk. Walk returns only after every call to fn
// has returned, so it leaves no goroutines behind.
func (g *Graph[K]) Walk(ctx context.Context, parallelism int, fn func(context.Context, K) error) error {
	if parallelism <= 0 {
		parallelism = 1
	}
	x := g.index()
	if _, ok := x.layers(); !ok {
		return x.cycleError()
	}
	n := len(x.keys)

	// pending[v] counts v's dependencies that have not yet succeeded. A
	// failed vertex never decrements its dependents, which is all it takes
	// to skip them transitively.
	pending := make([]int, n)
	ready := &intHeap{}
	for v := range n {
		pending[v] = len(x.deps(v))
		if pending[v] == 0 {
			ready.ints = append(ready.ints, v)
		}
	}
	heap.Init(ready)

	type result struct {
		v   int
		err error
	}
	// Buffered so a finished call never blocks on send, although Walk also
	// drains every result before returning.
	results := make(chan result, min(parallelism, n))
	var failures []result
	running := 0
	cancelled := false
	ctxDone := ctx.Done()

	for {
		for !cancelled && running < parallelism && ready.Len() > 0 {
			// Checking here, not only in the select below, guarantees that
			// an already-cancelled ctx starts nothing.
			if ctx.Err() != nil {
				cancelled = true
				break
			}
			v := heap.Pop(ready).(int)
			running++
			go func() {
				results <- result{v, fn(ctx, x.keys[v])}
			}()
		}
		if running == 0 {
			break
		}
		select {
		case r := <-results:
			running--
			if r.err != nil {
				failures = append(failures, r)
				continue
			}
			for _, u := range x.dependents(r.v) {
				pending[u]--
				if pending[u] == 0 {
					heap.Push(ready, u)
				}
			}
		case <-ctxDone:
			cancelled = true
			ctxDone = nil // a nil channel blocks forever: wait only for results now
		}
	}

	var errs []error
	// With nothing running and the ready queue empty, every uncalled vertex
	// is blocked by a failed dependency, so ctx.Err() is reported only if
	// cancellation left ready work behind.
	if cancelled && ready.Len() > 0 {
		errs = append(errs, ctx.Err())
	}
	slices.SortFunc(failures, func(a, b result) int { return a.v - b.v })
	for _, f := range failures {
		errs = append(errs, fmt.Errorf("%v: %w", x.keys[f.v], f.err))
	}
	return errors.Join(errs...)
}

// intHeap is a min-heap of vertex numbers; smaller numbers are smaller keys.
type intHeap struct{ ints []int }

func (h *intHeap) Len() int           { return len(h.ints) }
func (h *intHeap) Less(i, j int) bool { return h.ints[i] < h.ints[j] }
func (h *intHeap) Swap(i, j int)      { h.ints[i], h.ints[j] = h.ints[j], h.ints[i] }
func (h *intHeap) Push(v any)         { h.ints = append(h.ints, v.(int)) }
func (h *intHeap) Pop() any {
	v := h.ints[len(h.ints)-1]
	h.ints = h.ints[:len(h.ints)-1]
	return v
}
