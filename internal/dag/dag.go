// Package dag is a small generic directed graph used to order configuration
// objects, report dependency cycles, and walk a plan concurrently.
//
// An edge from A to B means "A depends on B": B must be handled before A.
// Every result is deterministic (sorted by vertex) so that plans, error
// messages and tests do not depend on map iteration order.
//
// A Graph's methods may be called concurrently only if none of them is Add
// or Connect. The algorithms first build a compact, sorted snapshot of the
// graph (see index), so they cost one sort of the vertices plus time linear
// in the edges.
package dag

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Graph is a directed graph whose edge from A to B means "A depends on B"
// (B must come first). Create one with New.
type Graph[K cmp.Ordered] struct {
	// Vertices are numbered by insertion (their id) and adjacency is kept
	// as id slices rather than per-vertex sets: that keeps a 100k-vertex
	// plan compact, and index can renumber it without hashing any key.
	ids   map[K]int
	keys  []K     // id -> vertex
	deps  [][]int // id -> ids of its dependencies, insertion order
	rdeps [][]int // id -> ids of its dependents, insertion order
	edges map[[2]int]struct{}
}

// New returns an empty graph.
func New[K cmp.Ordered]() *Graph[K] {
	return &Graph[K]{ids: make(map[K]int), edges: make(map[[2]int]struct{})}
}

// Add adds vertex v. Adding an existing vertex does nothing.
func (g *Graph[K]) Add(v K) {
	g.add(v)
}

func (g *Graph[K]) add(v K) int {
	if id, ok := g.ids[v]; ok {
		return id
	}
	if g.ids == nil {
		g.ids = make(map[K]int)
	}
	id := len(g.keys)
	g.ids[v] = id
	g.keys = append(g.keys, v)
	g.deps = append(g.deps, nil)
	g.rdeps = append(g.rdeps, nil)
	return id
}

// Connect records that from depends on to, adding both vertices if needed.
// Connecting the same pair twice does nothing. A self-edge (from == to) is
// allowed and is reported as a cycle.
func (g *Graph[K]) Connect(from, to K) {
	f, t := g.add(from), g.add(to)
	// A set of edges, rather than a scan of deps[f], keeps Connect O(1) for
	// a vertex that depends on thousands of others.
	e := [2]int{f, t}
	if _, ok := g.edges[e]; ok {
		return
	}
	if g.edges == nil {
		g.edges = make(map[[2]int]struct{})
	}
	g.edges[e] = struct{}{}
	g.deps[f] = append(g.deps[f], t)
	g.rdeps[t] = append(g.rdeps[t], f)
}

// Vertices returns every vertex, sorted.
func (g *Graph[K]) Vertices() []K {
	vs := slices.Clone(g.keys)
	slices.Sort(vs)
	return vs
}

// DependsOn returns the direct dependencies of v, sorted. It returns nil if v
// has none or is not in the graph.
func (g *Graph[K]) DependsOn(v K) []K {
	if id, ok := g.ids[v]; ok {
		return g.sortedKeys(g.deps[id])
	}
	return nil
}

// Dependents returns the vertices that depend directly on v, sorted. It
// returns nil if v has none or is not in the graph.
func (g *Graph[K]) Dependents(v K) []K {
	if id, ok := g.ids[v]; ok {
		return g.sortedKeys(g.rdeps[id])
	}
	return nil
}

func (g *Graph[K]) sortedKeys(ids []int) []K {
	if len(ids) == 0 {
		return nil
	}
	ks := make([]K, len(ids))
	for i, id := range ids {
		ks[i] = g.keys[id]
	}
	slices.Sort(ks)
	return ks
}

// TransitiveDeps returns every vertex that v depends on, directly or
// indirectly, sorted. v itself is included only if it lies on a cycle,
// because only then does it (transitively) depend on itself. It returns nil
// if v has no dependencies or is not in the graph.
func (g *Graph[K]) TransitiveDeps(v K) []K {
	id, ok := g.ids[v]
	if !ok {
		return nil
	}
	seen := make(map[int]struct{})
	queue := []int{id}
	for len(queue) > 0 {
		u := queue[len(queue)-1]
		queue = queue[:len(queue)-1]
		for _, d := range g.deps[u] {
			if _, ok := seen[d]; !ok {
				seen[d] = struct{}{}
				queue = append(queue, d)
			}
		}
	}
	found := make([]int, 0, len(seen))
	for d := range seen {
		found = append(found, d)
	}
	return g.sortedKeys(found)
}

// Cycles returns every dependency cycle: each strongly connected component
// with more than one vertex, and each vertex with a self-edge. The result is
// sorted by each cycle's first member, which is its smallest member.
//
// Each cycle is listed in edge order, c[0] depends on c[1] ... depends on
// c[0], starting from its smallest member, whenever a simple cycle through
// every member of the component exists and a bounded search finds it. That
// covers rings and most small components. Otherwise (e.g. a depends on b and
// c, both of which depend on a) no single cycle names every member, so the
// members are listed sorted instead; CycleError's message says which form it
// prints. Cycles returns nil if the graph is acyclic.
func (g *Graph[K]) Cycles() [][]K {
	cycles, _ := g.index().cycles()
	return cycles
}

// TopoLayers returns the vertices in dependency order, grouped in layers:
// layer 0 holds the vertices with no dependencies, and each vertex sits in
// the layer right after its latest dependency. Each layer is sorted. If the
// graph has cycles, TopoLayers returns a *CycleError.
func (g *Graph[K]) TopoLayers() ([][]K, error) {
	x := g.index()
	layers, ok := x.layers()
	if !ok {
		return nil, x.cycleError()
	}
	out := make([][]K, len(layers))
	for i, l := range layers {
		out[i] = x.keysOf(l)
	}
	return out, nil
}

// CycleError reports that a graph has dependency cycles, as found by
// Graph.Cycles.
type CycleError[K cmp.Ordered] struct {
	// Cycles lists each cycle's members, in the form described by
	// Graph.Cycles.
	Cycles [][]K

	// unordered[i] is true when Cycles[i] holds sorted component members
	// rather than a cycle in edge order, so Error does not claim edges that
	// do not exist. nil (as in a CycleError built by hand) means every cycle
	// is in edge order.
	unordered []bool
}

// Error names every member of every cycle, e.g.
// "dependency cycle: a -> b -> c -> a". A component with no single cycle
// through all its members is printed as "a, b, c (mutually dependent)".
// Several cycles are separated by "; ".
func (e *CycleError[K]) Error() string {
	var b strings.Builder
	b.WriteString("dependency cycle")
	if len(e.Cycles) > 1 {
		b.WriteString("s")
	}
	for i, c := range e.Cycles {
		if i == 0 {
			b.WriteString(": ")
		} else {
			b.WriteString("; ")
		}
		if i < len(e.unordered) && e.unordered[i] {
			for j, v := range c {
				if j > 0 {
					b.WriteString(", ")
				}
				fmt.Fprint(&b, v)
			}
			b.WriteString(" (mutually dependent)")
			continue
		}
		for _, v := range c {
			fmt.Fprint(&b, v, " -> ")
		}
		if len(c) > 0 {
			fmt.Fprint(&b, c[0])
		}
	}
	return b.String()
}

// index is a read-only snapshot of a Graph with vertices numbered in sorted
// order. Working on dense ints in CSR form keeps the 100k-vertex algorithms
// cheap, and because numbering follows key order, sorting ints sorts keys.
type index[K cmp.Ordered] struct {
	keys []K
	// The dependencies of vertex i are outAdj[outOff[i]:outOff[i+1]] and its
	// dependents inAdj[inOff[i]:inOff[i+1]], both ascending.
	outOff, outAdj []int
	inOff, inAdj   []int
}

func (g *Graph[K]) index() *index[K] {
	n := len(g.keys)
	// order[i] is the id of the i-th smallest vertex; rank inverts it.
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(a, b int) int { return cmp.Compare(g.keys[a], g.keys[b]) })
	rank := make([]int, n)
	for i, id := range order {
		rank[id] = i
	}
	x := &index[K]{
		keys:   make([]K, n),
		outOff: make([]int, n+1),
		inOff:  make([]int, n+1),
	}
	for i, id := range order {
		x.keys[i] = g.keys[id]
		x.outOff[i+1] = x.outOff[i] + len(g.deps[id])
		x.inOff[i+1] = x.inOff[i] + len(g.rdeps[id])
	}
	x.outAdj = make([]int, x.outOff[n])
	x.inAdj = make([]int, x.inOff[n])
	outFill := slices.Clone(x.outOff[:n])
	inFill := slices.Clone(x.inOff[:n])
	// Filling rows by visiting the other endpoint in ascending order leaves
	// every row sorted without sorting it: when i is visited, i is appended
	// to the dependents row of each of its dependencies and vice versa.
	for i, id := range order {
		for _, d := range g.deps[id] {
			p := rank[d]
			x.inAdj[inFill[p]] = i
			inFill[p]++
		}
		for _, d := range g.rdeps[id] {
			p := rank[d]
			x.outAdj[outFill[p]] = i
			outFill[p]++
		}
	}
	return x
}

func (x *index[K]) deps(i int) []int       { return x.outAdj[x.outOff[i]:x.outOff[i+1]] }
func (x *index[K]) dependents(i int) []int { return x.inAdj[x.inOff[i]:x.inOff[i+1]] }

func (x *index[K]) hasEdge(from, to int) bool {
	_, ok := slices.BinarySearch(x.deps(from), to)
	return ok
}

func (x *index[K]) keysOf(is []int) []K {
	ks := make([]K, len(is))
	for j, i := range is {
		ks[j] = x.keys[i]
	}
	return ks
}

// layers runs Kahn's algorithm one layer at a time. ok is false if some
// vertices were never freed, which happens exactly when there is a cycle.
func (x *index[K]) layers() (layers [][]int, ok bool) {
	n := len(x.keys)
	pending := make([]int, n)
	var cur []int
	for i := range n {
		pending[i] = x.outOff[i+1] - x.outOff[i]
		if pending[i] == 0 {
			cur = append(cur, i)
		}
	}
	done := 0
	for len(cur) > 0 {
		layers = append(layers, cur)
		done += len(cur)
		var next []int
		for _, w := range cur {
			for _, u := range x.dependents(w) {
				pending[u]--
				if pending[u] == 0 {
					next = append(next, u)
				}
			}
		}
		slices.Sort(next)
		cur = next
	}
	return layers, done == n
}

func (x *index[K]) cycleError() *CycleError[K] {
	cycles, unordered := x.cycles()
	return &CycleError[K]{Cycles: cycles, unordered: unordered}
}

// cycles finds the strongly connected components and turns the cyclic ones
// into member lists as documented on Graph.Cycles. unordered[i] reports that
// cycle i fell back to sorted members.
func (x *index[K]) cycles() (cycles [][]K, unordered []bool) {
	comp, members := x.sccs()
	// Components come out of Tarjan in reverse topological order; sorting
	// by smallest member gives the documented order.
	slices.SortFunc(members, func(a, b []int) int { return cmp.Compare(a[0], b[0]) })
	onPath := make([]bool, len(x.keys)) // scratch for hamiltonian, kept all-false between calls
	for _, m := range members {
		if len(m) == 1 {
			if x.hasEdge(m[0], m[0]) {
				cycles = append(cycles, x.keysOf(m))
				unordered = append(unordered, false)
			}
			continue
		}
		if order := x.hamiltonian(m, comp, onPath); order != nil {
			cycles = append(cycles, x.keysOf(order))
			unordered = append(unordered, false)
		} else {
			cycles = append(cycles, x.keysOf(m))
			unordered = append(unordered, true)
		}
	}
	return cycles, unordered
}

// sccs is Tarjan's algorithm with an explicit call stack, so that a long
// dependency chain in a large plan cannot overflow the goroutine stack.
// comp[v] numbers v's component; members lists each component ascending.
func (x *index[K]) sccs() (comp []int, members [][]int) {
	n := len(x.keys)
	const unvisited = -1
	num := make([]int, n) // discovery number
	low := make([]int, n)
	onStack := make([]bool, n)
	comp = make([]int, n)
	for i := range num {
		num[i] = unvisited
	}
	type frame struct{ v, next int }
	var stack []int
	var calls []frame
	// All components share one backing array: most are single vertices,
	// and one allocation each would dominate on a large acyclic plan.
	flat := make([]int, 0, n)
	counter := 0
	visit := func(v int) {
		num[v], low[v] = counter, counter
		counter++
		stack = append(stack, v)
		onStack[v] = true
		calls = append(calls, frame{v: v})
	}
	for root := range n {
		if num[root] != unvisited {
			continue
		}
		visit(root)
		for len(calls) > 0 {
			f := &calls[len(calls)-1]
			v := f.v
			if adj := x.deps(v); f.next < len(adj) {
				w := adj[f.next]
				f.next++ // before visit, which may move calls and invalidate f
				if num[w] == unvisited {
					visit(w)
				} else if onStack[w] {
					low[v] = min(low[v], num[w])
				}
				continue
			}
			calls = calls[:len(calls)-1]
			if len(calls) > 0 {
				p := calls[len(calls)-1].v
				low[p] = min(low[p], low[v])
			}
			if low[v] == num[v] {
				c, start := len(members), len(flat)
				for {
					w := stack[len(stack)-1]
					stack = stack[:len(stack)-1]
					onStack[w] = false
					comp[w] = c
					flat = append(flat, w)
					if w == v {
						break
					}
				}
				m := flat[start:len(flat):len(flat)]
				slices.Sort(m)
				members = append(members, m)
			}
		}
	}
	return comp, members
}

// hamiltonian searches depth-first, neighbours in ascending order, for a
// simple cycle through every member of one component, starting at its
// smallest member. Finding one is NP-hard in general, so the search gets a
// step budget linear in the component's size: rings and small components
// are solved, while a pathological component costs bounded time and falls
// back to sorted members (nil result). onPath must be all false on entry
// and is left all false.
func (x *index[K]) hamiltonian(members []int, comp []int, onPath []bool) []int {
	c := comp[members[0]]
	budget := 256
	for _, m := range members {
		budget += 16 * (1 + len(x.deps(m)))
	}
	start := members[0]
	path := []int{start}
	next := []int{0} // next[i]: position in deps(path[i]) to try next
	onPath[start] = true
	defer func() {
		for _, v := range path {
			onPath[v] = false
		}
	}()
	for len(path) > 0 && budget > 0 {
		budget--
		top := len(path) - 1
		u := path[top]
		if len(path) == len(members) {
			if x.hasEdge(u, start) {
				return slices.Clone(path)
			}
		} else {
			adj := x.deps(u)
			advanced := false
			for next[top] < len(adj) && budget > 0 {
				budget--
				w := adj[next[top]]
				next[top]++
				if comp[w] == c && !onPath[w] {
					path = append(path, w)
					next = append(next, 0)
					onPath[w] = true
					advanced = true
					break
				}
			}
			if advanced {
				continue
			}
		}
		onPath[u] = false
		path = path[:top]
		next = next[:top]
	}
	return nil
}
