package openstack

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// A task is one step of the start-up; it runs when every task it depends
// on has succeeded. The start-up is a small graph rather than a sequence
// because most of its time is independent database migrations and Python
// imports: running them side by side halves the wait on two cores.
type task struct {
	name string
	deps []string
	run  func(ctx context.Context) error
}

// runTasks runs the graph and returns the first error (by task name order,
// for a stable message), after every started task has returned. A failure
// cancels the context of the tasks still running; tasks behind a failed one
// never start.
func runTasks(parent context.Context, tasks []task) error {
	ctx, cancel := context.WithCancel(parent)
	defer cancel()
	done := map[string]chan struct{}{}
	for _, t := range tasks {
		if _, dup := done[t.name]; dup {
			return fmt.Errorf("task %s defined twice", t.name)
		}
		done[t.name] = make(chan struct{})
	}
	for _, t := range tasks {
		for _, d := range t.deps {
			if _, ok := done[d]; !ok {
				return fmt.Errorf("task %s depends on unknown task %s", t.name, d)
			}
		}
	}
	var mu sync.Mutex
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, t := range tasks {
		wg.Add(1)
		go func(t task) {
			defer wg.Done()
			defer close(done[t.name])
			for _, d := range t.deps {
				select {
				case <-done[d]:
				case <-ctx.Done():
					return
				}
				mu.Lock()
				failed := errs[d] != nil
				mu.Unlock()
				if failed {
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err := t.run(ctx); err != nil {
				mu.Lock()
				errs[t.name] = err
				mu.Unlock()
				cancel()
			}
		}(t)
	}
	wg.Wait()
	if len(errs) == 0 {
		// Nothing failed, but the caller's deadline may have stopped tasks
		// before they started.
		return parent.Err()
	}
	// Report the root failures; tasks cancelled because of them only add
	// "context canceled" noise.
	var names []string
	for n, err := range errs {
		if ctx.Err() != nil && strings.Contains(err.Error(), context.Canceled.Error()) && len(errs) > 1 {
			continue
		}
		names = append(names, n)
	}
	if len(names) == 0 {
		for n := range errs {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	var msgs []string
	for _, n := range names {
		msgs = append(msgs, errs[n].Error())
	}
	return fmt.Errorf("%s", strings.Join(msgs, "\n"))
}
