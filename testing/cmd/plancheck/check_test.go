package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

// testCloud is a small generated cloud: 8 compute hosts in two zones, four
// instances each, a third of them light, and hard anti-affinity groups of
// three (so every group has two members in one zone).
func testCloud(t *testing.T) *sim.Cloud {
	t.Helper()
	o := sim.DefaultGenOptions()
	o.Hosts, o.Zones, o.InstancesPerHost, o.Controllers = 8, 2, 4, 0
	o.GroupSize, o.GroupedFraction, o.SoftFraction = 3, 0.5, 0
	o.Utilization, o.MaxFill, o.Projects, o.Seed = 0.3, 0.5, 2, 1
	c, err := sim.Generate(o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func host(zone string, n int) string { return fmt.Sprintf("cmp-%s-r001-%02d", zone, n) }

// builder writes plans by hand, move by move, keeping track of where each
// instance is and what room each host has. It is deliberately naive (first
// fit in name order): the plans it writes are the test's inputs, and the
// cases below break them on purpose.
type builder struct {
	t     *testing.T
	cloud *sim.Cloud
	loc   map[string]string
	used  map[string]sim.Resources
	doc   *planDoc
	wave  int
}

func newBuilder(t *testing.T, c *sim.Cloud, maxU int) *builder {
	b := &builder{t: t, cloud: c, loc: map[string]string{}, used: c.UsedByHost()}
	for _, in := range c.Instances {
		b.loc[in.ID] = in.Host
	}
	v := planFormatVersion
	b.doc = &planDoc{FormatVersion: &v, Plan: &planBody{Rollouts: []*planRollout{{Name: "compute", MaxUnavailable: maxU}}}}
	return b
}

// addWave adds a wave that evacuates hosts, placing each instance on the
// first host of its zone (by name) outside the wave that has room and no
// other member of its group.
func (b *builder) addWave(group string, hosts ...string) *planWave {
	b.t.Helper()
	b.wave++
	w := &planWave{Number: b.wave, Group: group}
	for _, h := range hosts {
		v := &planVisit{Host: h, Evacuate: true}
		for _, id := range b.on(h) {
			in := b.cloud.Instance(id)
			to := b.dest(in, hosts)
			if to == "" {
				b.t.Fatalf("no destination for %s on %s", id, h)
			}
			v.Moves = append(v.Moves, b.moveTo(in, h, to))
		}
		w.Hosts = append(w.Hosts, v)
	}
	r := b.doc.Plan.Rollouts[0]
	r.Waves = append(r.Waves, w)
	return w
}

func (b *builder) moveTo(in *sim.Instance, from, to string) planMove {
	b.used[from] = b.used[from].Sub(in.Flavor.Resources)
	b.used[to] = b.used[to].Add(in.Flavor.Resources)
	b.loc[in.ID] = to
	return planMove{Instance: in.ID, ServerGroup: in.ServerGroup, From: from, To: to, VCPUs: in.Flavor.VCPUs, MemoryMB: in.Flavor.MemoryMB}
}

// on lists the instances on h, by id.
func (b *builder) on(h string) []string {
	var ids []string
	for id, at := range b.loc {
		if at == h {
			ids = append(ids, id)
		}
	}
	sort.Strings(ids)
	return ids
}

func (b *builder) dest(in *sim.Instance, exclude []string) string {
	zone := b.cloud.Host(b.loc[in.ID]).AvailabilityZone
	for _, h := range b.cloud.Hosts {
		if h.AvailabilityZone != zone || contains(exclude, h.Name) || !b.fits(in, h.Name) || b.holdsGroup(h.Name, in) {
			continue
		}
		return h.Name
	}
	return ""
}

func (b *builder) fits(in *sim.Instance, h string) bool {
	free := b.cloud.Host(h).Capacity.Sub(b.used[h])
	return in.Flavor.VCPUs <= free.VCPUs && in.Flavor.MemoryMB <= free.MemoryMB
}

func (b *builder) holdsGroup(h string, in *sim.Instance) bool {
	if in.ServerGroup == "" {
		return false
	}
	for _, id := range b.on(h) {
		if id != in.ID && b.cloud.Instance(id).ServerGroup == in.ServerGroup {
			return true
		}
	}
	return false
}

// sameZonePair finds a hard anti-affinity group with two members in one
// zone, and returns them.
func sameZonePair(t *testing.T, c *sim.Cloud) (a, b *sim.Instance) {
	t.Helper()
	for _, g := range c.ServerGroups {
		if g.Policy != sim.PolicyAntiAffinity {
			continue
		}
		for i, x := range g.Members {
			for _, y := range g.Members[i+1:] {
				ix, iy := c.Instance(x), c.Instance(y)
				if c.Host(ix.Host).AvailabilityZone == c.Host(iy.Host).AvailabilityZone {
					return ix, iy
				}
			}
		}
	}
	t.Fatal("no anti-affinity group with two members in one zone")
	return nil, nil
}

// sharesNoGroup reports whether hosts a and b hold no members of a common
// server group.
func sharesNoGroup(c *sim.Cloud, a, b string) bool {
	groups := map[string]bool{}
	for _, in := range c.Instances {
		if in.Host == a && in.ServerGroup != "" {
			groups[in.ServerGroup] = true
		}
	}
	for _, in := range c.Instances {
		if in.Host == b && groups[in.ServerGroup] {
			return false
		}
	}
	return true
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// validPlan evacuates the first host of each zone, one per wave.
func validPlan(t *testing.T, c *sim.Cloud) *builder {
	b := newBuilder(t, c, 1)
	b.addWave("az1", host("az1", 1))
	b.addWave("az2", host("az2", 1))
	return b
}

var defaultOpts = Options{Budget: 1, Policies: []string{sim.PolicyAntiAffinity, sim.PolicySoftAntiAffinity}}

func kinds(r *Report) []string {
	return sortedKeys(r.ByKind())
}

func TestValidPlan(t *testing.T) {
	c := testCloud(t)
	b := validPlan(t, c)
	r := Check(c, b.doc, defaultOpts)
	if len(r.Violations) > 0 {
		t.Fatalf("violations in a valid plan:\n%v", r.Violations)
	}
	moves := len(b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves) + len(b.doc.Plan.Rollouts[0].Waves[1].Hosts[0].Moves)
	if r.Hosts != 2 || r.Waves != 2 || r.Moves != moves || moves == 0 || r.DoubleMoves != 0 || r.InstancesMoved != moves {
		t.Errorf("report %+v, want 2 hosts, 2 waves, %d moves", r, moves)
	}
	if !strings.HasPrefix(r.Summary(), fmt.Sprintf("PLANCHECK hosts=2 waves=2 moves=%d violations=0 double_moves=0", moves)) {
		t.Errorf("summary %q", r.Summary())
	}
	// The campaign's own max_unavailable, checked independently, holds.
	o := defaultOpts
	o.MaxUnavailable = "50%"
	if r := Check(c, b.doc, o); len(r.Violations) > 0 {
		t.Errorf("-max-unavailable=50%%: %v", r.Violations)
	}
}

// TestViolations breaks the valid plan (or the cloud under it) in one way
// per case and checks that exactly that kind of violation is reported.
func TestViolations(t *testing.T) {
	tests := []struct {
		name string
		// build returns the plan and may change the cloud.
		build func(t *testing.T, c *sim.Cloud) *planDoc
		opts  func(o *Options)
		want  []string
	}{
		{
			name: "move from where the instance is not",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].From = host("az1", 2)
				return b.doc
			},
			want: []string{KindWrongSource},
		},
		{
			name: "destination in the same wave",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := newBuilder(t, c, 2)
				w := b.addWave("az1", host("az1", 1))
				// The first destination goes into maintenance too.
				w.Hosts = append(w.Hosts, &planVisit{Host: w.Hosts[0].Moves[0].To})
				return b.doc
			},
			want: []string{KindSameWave},
		},
		{
			name: "destination in another zone",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				m := &b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0]
				// az2's last host: untouched by the plan, and with room.
				m.To = host("az2", 4)
				if in := c.Instance(m.Instance); in.ServerGroup != "" {
					for _, id := range c.ServerGroup(in.ServerGroup).Members {
						if c.Instance(id).Host == m.To {
							t.Skip("the chosen host holds a member of the group; pick another seed")
						}
					}
				}
				return b.doc
			},
			want: []string{KindCrossZone},
		},
		{
			name: "destination without room",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				// Shrink the first destination to what it already runs.
				to := b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To
				c.Host(to).Capacity = c.Used(to)
				return b.doc
			},
			want: []string{KindNoRoom},
		},
		{
			name: "destination holds a member of the anti-affinity group",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				x, y := sameZonePair(t, c)
				b := newBuilder(t, c, 1)
				w := b.addWave(c.Host(x.Host).AvailabilityZone, x.Host)
				for i := range w.Hosts[0].Moves {
					if m := &w.Hosts[0].Moves[i]; m.Instance == x.ID {
						m.To = y.Host
					}
				}
				return b.doc
			},
			want: []string{KindAntiAffinity},
		},
		{
			name: "destination not in service",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				c.Host(b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To).State = sim.StateDisabled
				return b.doc
			},
			want: []string{KindNotInService},
		},
		{
			name: "two members of one group in a wave",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				x, y := sameZonePair(t, c)
				b := newBuilder(t, c, 2)
				b.addWave(c.Host(x.Host).AvailabilityZone, x.Host, y.Host)
				return b.doc
			},
			want: []string{KindGroupBudget},
		},
		{
			name: "a wave over two zones",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := newBuilder(t, c, 2)
				b.addWave("az1", host("az1", 1), host("az2", 1))
				return b.doc
			},
			// Hosts of two zones may share groups; the budget is not
			// what this case is about.
			opts: func(o *Options) { o.Budget = 100 },
			want: []string{KindMixedZones},
		},
		{
			name: "an evacuated host left with an instance",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				v := b.doc.Plan.Rollouts[0].Waves[0].Hosts[0]
				v.Moves = v.Moves[:len(v.Moves)-1]
				return b.doc
			},
			want: []string{KindNotEmpty},
		},
		{
			name: "an instance moved twice",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				// Evacuate the host that received az1-01's first instance.
				b.addWave("az1", b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To)
				return b.doc
			},
			want: []string{KindMovedTwice},
		},
		{
			name: "more hosts than max_unavailable",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				other := 0
				for n := 2; n <= 4; n++ {
					if sharesNoGroup(c, host("az1", 1), host("az1", n)) {
						other = n
						break
					}
				}
				if other == 0 {
					t.Skip("every az1 host shares a group with az1-01")
				}
				b := newBuilder(t, c, 1)
				b.addWave("az1", host("az1", 1), host("az1", other))
				return b.doc
			},
			want: []string{KindMaxUnavailable},
		},
		{
			name: "more hosts than -max-unavailable",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				w := b.doc.Plan.Rollouts[0].Waves[0]
				w.Hosts = append(w.Hosts, &planVisit{Host: host("az1", 4)})
				b.doc.Plan.Rollouts[0].MaxUnavailable = 0 // the plan states none
				return b.doc
			},
			// 25% of the rollout's 3 hosts is 1 at a time.
			opts: func(o *Options) { o.MaxUnavailable = "25%" },
			want: []string{KindMaxUnavailable},
		},
		{
			name: "a hard affinity group split",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				// Two ungrouped instances of one az1 host become an
				// affinity group; the plan sends them to different hosts.
				byHost := map[string][]*sim.Instance{}
				for _, in := range c.Instances {
					if in.ServerGroup == "" && c.Host(in.Host).AvailabilityZone == "az1" {
						byHost[in.Host] = append(byHost[in.Host], in)
					}
				}
				var pair []*sim.Instance
				for _, h := range sortedKeys(byHost) {
					if len(byHost[h]) >= 2 {
						pair = byHost[h][:2]
						break
					}
				}
				if pair == nil {
					t.Fatal("no az1 host has two ungrouped instances")
				}
				g := &sim.ServerGroup{ID: "aff-1", Name: "aff", Policy: sim.PolicyAffinity, Project: pair[0].Project}
				for _, in := range pair {
					in.ServerGroup = g.ID
					g.Members = append(g.Members, in.ID)
				}
				c.ServerGroups = append(c.ServerGroups, g)
				if err := c.Index(); err != nil {
					t.Fatal(err)
				}
				b := newBuilder(t, c, 1)
				w := b.addWave("az1", pair[0].Host)
				moves := w.Hosts[0].Moves
				var dests []string
				for i := range moves {
					if moves[i].Instance != pair[0].ID && moves[i].Instance != pair[1].ID {
						continue
					}
					dests = append(dests, moves[i].To)
					if len(dests) == 2 && dests[0] == dests[1] {
						// The naive builder kept them together: part them.
						for _, h := range []string{host("az1", 1), host("az1", 2), host("az1", 3), host("az1", 4)} {
							if h != pair[0].Host && h != dests[0] {
								moves[i].To = h
								break
							}
						}
					}
				}
				return b.doc
			},
			want: []string{KindAffinity},
		},
		{
			name: "destination of another role",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				c.Host(b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To).Role = "controller"
				return b.doc
			},
			opts: func(o *Options) { o.SameRole = true },
			want: []string{KindRole},
		},
		{
			name: "plan and cloud disagree",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].VCPUs++
				return b.doc
			},
			want: []string{KindMismatch},
		},
		{
			name: "unknown names",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				w := b.doc.Plan.Rollouts[0].Waves[1]
				w.Hosts = append(w.Hosts, &planVisit{Host: "cmp-nowhere", Moves: []planMove{{Instance: "no-such-instance", From: "cmp-nowhere", To: host("az2", 2)}}})
				b.doc.Plan.Rollouts[0].MaxUnavailable = 2
				return b.doc
			},
			want: []string{KindUnknownHost, KindUnknownInstance},
		},
		{
			name: "a host twice in one wave",
			build: func(t *testing.T, c *sim.Cloud) *planDoc {
				b := validPlan(t, c)
				w := b.doc.Plan.Rollouts[0].Waves[1]
				w.Hosts = append(w.Hosts, &planVisit{Host: w.Hosts[0].Host})
				b.doc.Plan.Rollouts[0].MaxUnavailable = 2
				return b.doc
			},
			want: []string{KindHostTwice},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := testCloud(t)
			doc := tt.build(t, c)
			o := defaultOpts
			if tt.opts != nil {
				tt.opts(&o)
			}
			r := Check(c, doc, o)
			if diff := cmp.Diff(tt.want, kinds(r)); diff != "" {
				t.Errorf("violation kinds (-want +got):\n%s\nviolations:\n%v", diff, r.Violations)
			}
		})
	}
}

// TestDoubleMovesAllowed: with -allow-double a second move is counted and
// warned about, not a violation.
func TestDoubleMovesAllowed(t *testing.T) {
	c := testCloud(t)
	b := validPlan(t, c)
	b.addWave("az1", b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To)
	o := defaultOpts
	o.AllowDouble = true
	r := Check(c, b.doc, o)
	if len(r.Violations) > 0 || r.DoubleMoves == 0 || len(r.Warnings) == 0 || r.InstancesMoved >= r.Moves {
		t.Errorf("report %+v", r)
	}
}

// TestOtherRoleWarning: without -same-role a move to a host of another
// role is a warning.
func TestOtherRoleWarning(t *testing.T) {
	c := testCloud(t)
	b := validPlan(t, c)
	c.Host(b.doc.Plan.Rollouts[0].Waves[0].Hosts[0].Moves[0].To).Role = "controller"
	r := Check(c, b.doc, defaultOpts)
	if len(r.Violations) > 0 || r.OtherRole["controller"] == 0 || len(r.Warnings) != 1 || !strings.Contains(r.Warnings[0], `to role "controller"`) {
		t.Errorf("report %+v", r)
	}
}

// TestBudgetPolicies: a group whose policy is not listed has no budget.
func TestBudgetPolicies(t *testing.T) {
	c := testCloud(t)
	x, y := sameZonePair(t, c)
	b := newBuilder(t, c, 2)
	b.addWave(c.Host(x.Host).AvailabilityZone, x.Host, y.Host)
	o := defaultOpts
	o.Policies = []string{sim.PolicySoftAntiAffinity}
	if r := Check(c, b.doc, o); len(r.Violations) > 0 {
		t.Errorf("hard groups are not budgeted, yet: %v", r.Violations)
	}
	o.Policies, o.Budget = defaultOpts.Policies, 2
	if r := Check(c, b.doc, o); len(r.Violations) > 0 || r.MaxGroupImpact != 2 {
		t.Errorf("budget 2: %v (max impact %d)", r.Violations, r.MaxGroupImpact)
	}
}

func TestResolveCountOrPercent(t *testing.T) {
	tests := []struct {
		s     string
		total int
		want  int
		err   bool
	}{
		{"5%", 1000, 50, false},
		{"5%", 10, 1, false}, // rounds down, but at least 1
		{"9.2%", 750, 69, false},
		{"100%", 7, 7, false},
		{"3", 10, 3, false},
		{"30", 10, 10, false},
		{"0", 10, 0, true},
		{"x%", 10, 0, true},
		{"101%", 10, 0, true},
		{"2.5", 10, 0, true},
	}
	for _, tt := range tests {
		got, err := resolveCountOrPercent(tt.s, tt.total)
		if (err != nil) != tt.err || got != tt.want {
			t.Errorf("%q of %d = %d, %v; want %d (error %v)", tt.s, tt.total, got, err, tt.want, tt.err)
		}
	}
}

// TestRun drives the command: files in, summary out, exit status.
func TestRun(t *testing.T) {
	dir := t.TempDir()
	c := testCloud(t)
	b := validPlan(t, c)
	write := func(name string, v any) string {
		t.Helper()
		var buf bytes.Buffer
		if cl, ok := v.(*sim.Cloud); ok {
			if err := sim.EncodeCloud(&buf, cl); err != nil {
				t.Fatal(err)
			}
		} else if err := json.NewEncoder(&buf).Encode(v); err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	cloud, plan := write("cloud.json", c), write("plan.json", b.doc)

	var out, errs bytes.Buffer
	if code := run([]string{"-cloud", cloud, "-plan", plan, "-max-unavailable", "1"}, &out, &errs); code != exitOK {
		t.Fatalf("exit %d\n%s%s", code, out.String(), errs.String())
	}
	if !strings.HasPrefix(out.String(), "PLANCHECK hosts=2 waves=2 moves=") || !strings.Contains(out.String(), " violations=0 double_moves=0\n") {
		t.Errorf("output:\n%s", out.String())
	}

	// 25 violations: the first 20 printed, then a count per kind.
	for i := 0; i < 25; i++ {
		w := b.doc.Plan.Rollouts[0].Waves[1]
		w.Hosts = append(w.Hosts, &planVisit{Host: fmt.Sprintf("ghost-%02d", i)})
	}
	b.doc.Plan.Rollouts[0].MaxUnavailable = 100
	bad := write("bad.json", b.doc)
	out.Reset()
	if code := run([]string{"-cloud", cloud, "-plan", bad}, &out, &errs); code != exitViolation {
		t.Errorf("exit %d, want %d", code, exitViolation)
	}
	if got := strings.Count(out.String(), "violation: "); got != 20 || !strings.Contains(out.String(), "... and 5 more violations") || !strings.Contains(out.String(), "violations by kind: unknown-host=25") {
		t.Errorf("%d violations printed:\n%s", got, out.String())
	}

	notPlan := filepath.Join(dir, "other.json")
	if err := os.WriteFile(notPlan, []byte(`{"format_version": 2, "plan": {}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"-plan", plan},
		{"-cloud", cloud, "-plan", filepath.Join(dir, "nope.json")},
		{"-cloud", plan, "-plan", plan},
		{"-cloud", cloud, "-plan", notPlan},
		{"-cloud", cloud, "-plan", plan, "-max-unavailable", "many"},
		{"-cloud", cloud, "-plan", plan, "extra"},
	} {
		errs.Reset()
		if code := run(args, &out, &errs); code != exitError || !strings.HasPrefix(errs.String(), "plancheck: ") {
			t.Errorf("%v: exit %d, stderr %q", args, code, errs.String())
		}
	}
}
