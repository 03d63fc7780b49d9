package dag

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// edge is "from depends on to".
type edge struct{ from, to string }

func build(vertices []string, edges []edge) *Graph[string] {
	g := New[string]()
	for _, v := range vertices {
		g.Add(v)
	}
	for _, e := range edges {
		g.Connect(e.from, e.to)
	}
	return g
}

func equal2(a, b [][]string) bool {
	return slices.EqualFunc(a, b, func(x, y []string) bool { return slices.Equal(x, y) })
}

func TestGraph(t *testing.T) {
	tests := []struct {
		name     string
		vertices []string
		edges    []edge

		wantVertices []string
		wantCycles   [][]string
		wantErr      string // TopoLayers error, "" if acyclic
		wantLayers   [][]string
	}{
		{
			name: "empty",
		},
		{
			name:         "isolated vertices",
			vertices:     []string{"b", "a", "b"},
			wantVertices: []string{"a", "b"},
			wantLayers:   [][]string{{"a", "b"}},
		},
		{
			name:         "chain",
			edges:        []edge{{"a", "b"}, {"b", "c"}, {"a", "b"}},
			wantVertices: []string{"a", "b", "c"},
			wantLayers:   [][]string{{"c"}, {"b"}, {"a"}},
		},
		{
			name:         "diamond",
			edges:        []edge{{"top", "left"}, {"top", "right"}, {"left", "bottom"}, {"right", "bottom"}},
			wantVertices: []string{"bottom", "left", "right", "top"},
			wantLayers:   [][]string{{"bottom"}, {"left", "right"}, {"top"}},
		},
		{
			// A vertex sits one layer after its latest dependency, not its
			// earliest: d waits for c even though it also depends on a.
			name:         "layers follow longest path",
			vertices:     []string{"z"},
			edges:        []edge{{"b", "a"}, {"c", "b"}, {"d", "c"}, {"d", "a"}, {"e", "a"}},
			wantVertices: []string{"a", "b", "c", "d", "e", "z"},
			wantLayers:   [][]string{{"a", "z"}, {"b", "e"}, {"c"}, {"d"}},
		},
		{
			name:         "self-loop",
			edges:        []edge{{"a", "a"}, {"b", "a"}},
			wantVertices: []string{"a", "b"},
			wantCycles:   [][]string{{"a"}},
			wantErr:      "dependency cycle: a -> a",
		},
		{
			// Inserted so that edge order differs from sorted order.
			name:         "3-cycle",
			edges:        []edge{{"b", "a"}, {"a", "c"}, {"c", "b"}, {"d", "a"}},
			wantVertices: []string{"a", "b", "c", "d"},
			wantCycles:   [][]string{{"a", "c", "b"}},
			wantErr:      "dependency cycle: a -> c -> b -> a",
		},
		{
			name:         "two disjoint cycles",
			edges:        []edge{{"z", "x"}, {"x", "y"}, {"y", "z"}, {"b", "a"}, {"a", "b"}, {"m", "a"}, {"m", "x"}},
			wantVertices: []string{"a", "b", "m", "x", "y", "z"},
			wantCycles:   [][]string{{"a", "b"}, {"x", "y", "z"}},
			wantErr:      "dependency cycles: a -> b -> a; x -> y -> z -> x",
		},
		{
			// Cycles a-b-c, a-b and b-c; a-b-c-a visits every member.
			name:         "SCC with several cycles, one covering all",
			edges:        []edge{{"a", "b"}, {"b", "c"}, {"c", "a"}, {"b", "a"}, {"c", "b"}},
			wantVertices: []string{"a", "b", "c"},
			wantCycles:   [][]string{{"a", "b", "c"}},
			wantErr:      "dependency cycle: a -> b -> c -> a",
		},
		{
			// Searching in sorted order tries a -> b first, which dead-ends
			// at b (its only dependency is a); the search must back up.
			name:         "SCC found after backtracking",
			edges:        []edge{{"a", "b"}, {"a", "c"}, {"b", "a"}, {"c", "b"}},
			wantVertices: []string{"a", "b", "c"},
			wantCycles:   [][]string{{"a", "c", "b"}},
			wantErr:      "dependency cycle: a -> c -> b -> a",
		},
		{
			// a-b and a-c share only a, so no simple cycle names all three.
			name:         "SCC with no cycle through all members",
			edges:        []edge{{"a", "b"}, {"b", "a"}, {"c", "a"}, {"a", "c"}, {"p", "p"}},
			wantVertices: []string{"a", "b", "c", "p"},
			wantCycles:   [][]string{{"a", "b", "c"}, {"p"}},
			wantErr:      "dependency cycles: a, b, c (mutually dependent); p -> p",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := build(tt.vertices, tt.edges)
			if got := g.Vertices(); !slices.Equal(got, tt.wantVertices) {
				t.Errorf("Vertices() = %v, want %v", got, tt.wantVertices)
			}
			if got := g.Cycles(); !equal2(got, tt.wantCycles) {
				t.Errorf("Cycles() = %v, want %v", got, tt.wantCycles)
			}
			layers, err := g.TopoLayers()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("TopoLayers() error = %v", err)
				}
				if !equal2(layers, tt.wantLayers) {
					t.Errorf("TopoLayers() = %v, want %v", layers, tt.wantLayers)
				}
				return
			}
			var ce *CycleError[string]
			if !errors.As(err, &ce) {
				t.Fatalf("TopoLayers() error = %v, want *CycleError", err)
			}
			if layers != nil {
				t.Errorf("TopoLayers() layers = %v with error", layers)
			}
			if !equal2(ce.Cycles, tt.wantCycles) {
				t.Errorf("CycleError.Cycles = %v, want %v", ce.Cycles, tt.wantCycles)
			}
			if got := err.Error(); got != tt.wantErr {
				t.Errorf("Error() = %q, want %q", got, tt.wantErr)
			}
		})
	}
}

// A cycle reported in edge order must really follow edges, or the error
// message would send operators looking for dependencies that do not exist.
func TestCyclesFollowEdges(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for trial := range 200 {
		g := New[int]()
		n := 2 + r.IntN(9)
		for range r.IntN(3 * n) {
			g.Connect(r.IntN(n), r.IntN(n))
		}
		x := g.index()
		cycles, unordered := x.cycles()
		for i, c := range cycles {
			if slices.Min(c) != c[0] {
				t.Fatalf("trial %d: cycle %v does not start at its smallest member", trial, c)
			}
			if unordered[i] {
				if !slices.IsSorted(c) {
					t.Fatalf("trial %d: unordered cycle %v not sorted", trial, c)
				}
				continue
			}
			for j, v := range c {
				next := c[(j+1)%len(c)]
				if !slices.Contains(g.DependsOn(v), next) {
					t.Fatalf("trial %d: cycle %v claims %d depends on %d", trial, c, v, next)
				}
			}
		}
	}
}

func TestCycleErrorByHand(t *testing.T) {
	// A CycleError built outside the package prints every cycle in edge
	// order.
	err := &CycleError[int]{Cycles: [][]int{{1, 2}}}
	if got, want := err.Error(), "dependency cycle: 1 -> 2 -> 1"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
}

func TestNeighbours(t *testing.T) {
	g := build([]string{"lonely"}, []edge{
		{"app", "db"}, {"app", "cache"}, {"cache", "net"}, {"db", "net"}, {"web", "app"}, {"loop", "loop"},
	})
	tests := []struct {
		v                     string
		deps, dependents, all []string
	}{
		{v: "app", deps: []string{"cache", "db"}, dependents: []string{"web"}, all: []string{"cache", "db", "net"}},
		{v: "web", deps: []string{"app"}, all: []string{"app", "cache", "db", "net"}},
		{v: "net", dependents: []string{"cache", "db"}},
		{v: "lonely"},
		{v: "missing"},
		// Only a vertex on a cycle depends on itself.
		{v: "loop", deps: []string{"loop"}, dependents: []string{"loop"}, all: []string{"loop"}},
	}
	for _, tt := range tests {
		if got := g.DependsOn(tt.v); !slices.Equal(got, tt.deps) {
			t.Errorf("DependsOn(%q) = %v, want %v", tt.v, got, tt.deps)
		}
		if got := g.Dependents(tt.v); !slices.Equal(got, tt.dependents) {
			t.Errorf("Dependents(%q) = %v, want %v", tt.v, got, tt.dependents)
		}
		if got := g.TransitiveDeps(tt.v); !slices.Equal(got, tt.all) {
			t.Errorf("TransitiveDeps(%q) = %v, want %v", tt.v, got, tt.all)
		}
	}
}

// A long chain is the worst case for Tarjan's depth (the iterative version
// keeps it off the goroutine stack), and a long ring checks that the cycle
// search stays linear where every member has a single way on.
func TestLongChainAndRing(t *testing.T) {
	const n = 10_000
	g := New[int]()
	for i := 1; i < n; i++ {
		g.Connect(i, i-1)
	}
	if c := g.Cycles(); c != nil {
		t.Fatalf("chain has cycles: %d", len(c))
	}
	g.Connect(0, n-1)
	c := g.Cycles()
	if len(c) != 1 || len(c[0]) != n {
		t.Fatalf("ring: got %d cycles", len(c))
	}
	// Edge order from 0: 0 depends on n-1, which depends on n-2, ...
	if c[0][0] != 0 || c[0][1] != n-1 || c[0][n-1] != 1 {
		t.Errorf("ring order starts %v ... ends %v", c[0][:3], c[0][n-3:])
	}
}

// layeredGraph builds a random acyclic graph of layers*width vertices in
// which every vertex outside layer 0 depends on one to four vertices of
// earlier layers, mostly the layer just before, like a large plan.
func layeredGraph(layers, width int) *Graph[string] {
	r := rand.New(rand.NewPCG(1, 2))
	name := func(layer, i int) string { return fmt.Sprintf("component.l%03d[%d]", layer, i) }
	g := New[string]()
	for l := range layers {
		for i := range width {
			v := name(l, i)
			g.Add(v)
			if l == 0 {
				continue
			}
			for range 1 + r.IntN(4) {
				dl := l - 1
				if r.IntN(4) == 0 {
					dl = r.IntN(l)
				}
				g.Connect(v, name(dl, r.IntN(width)))
			}
		}
	}
	return g
}

func BenchmarkTopoLayers(b *testing.B) {
	g := layeredGraph(100, 1000)
	for b.Loop() {
		if _, err := g.TopoLayers(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkCycles(b *testing.B) {
	g := layeredGraph(100, 1000)
	for b.Loop() {
		if c := g.Cycles(); c != nil {
			b.Fatal(c)
		}
	}
}
