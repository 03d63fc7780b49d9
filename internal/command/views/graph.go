package views

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/escalator-nfv/escalator/internal/addrs"
	"github.com/escalator-nfv/escalator/internal/config"
	"github.com/escalator-nfv/escalator/internal/diags"
	"github.com/escalator-nfv/escalator/internal/plans"
)

// PlanGraphMaxHosts is the number of host visits up to which the plan
// graph draws one node per host. Beyond it each wave is one node: Graphviz
// takes minutes to lay out tens of thousands of nodes, and the drawing
// would be unreadable anyway; the per-host detail is in escalator show.
const PlanGraphMaxHosts = 2000

// Graph is the view of "escalator graph". It has one format, Graphviz DOT
// on stdout, so that `escalator graph | dot -Tsvg` works; diagnostics and
// errors go to stderr.
type Graph interface {
	// Components draws the campaign's components and their dependencies.
	Components(cfg *config.Config)
	// Plan draws the waves of a saved plan.
	Plan(f *plans.File)
	// Diagnostics reports the campaign's diagnostics; with errors it ends
	// with the verdict line that validate prints.
	Diagnostics(ds diags.Diagnostics, files diags.Files)
	Errors(errs []error)
	HelpPrompt()
}

// NewGraph returns the Graph view.
func NewGraph(view *View) Graph {
	return &GraphDOT{View: view}
}

// GraphDOT writes graphs as Graphviz DOT.
type GraphDOT struct {
	*View
}

var _ Graph = (*GraphDOT)(nil)

func (v *GraphDOT) Components(cfg *config.Config) { RenderComponentsDOT(v.stdout(), cfg) }

func (v *GraphDOT) Plan(f *plans.File) { RenderPlanDOT(v.stdout(), f.Plan) }

// Diagnostics prints the diagnostics as validate does, so that the same
// campaign reads the same in both commands.
func (v *GraphDOT) Diagnostics(ds diags.Diagnostics, files diags.Files) {
	if len(ds) == 0 {
		return
	}
	v.View.Diagnostics(ds, files)
	if ds.HasErrors() {
		errs, warns := count(ds)
		fmt.Fprintf(v.stderr(), "\nThe campaign is not valid: %s.\n", plural2(errs, "error", warns, "warning"))
	}
}

func (v *GraphDOT) HelpPrompt() { v.View.HelpPrompt("graph") }

// RenderComponentsDOT writes the component graph of cfg: one node per
// component (name, target version, host set, disruption), one cluster per
// rollout, and an arrow from each component to each component it depends
// on, as Terraform draws "depends on". With rankdir BT the arrows point up,
// so the drawing reads top to bottom in upgrade order. Everything is sorted
// by name: the same campaign always gives the same bytes, which keeps the
// output diffable and cacheable.
func RenderComponentsDOT(w io.Writer, cfg *config.Config) {
	d := &dotWriter{w: w}
	d.line(0, "digraph components {")
	d.line(1, "// escalator graph -type=components: an arrow goes from a component to a component it depends on.")
	d.line(1, "rankdir = %s;", dotQuote("BT"))
	d.line(1, "node [shape = %s, style = %s, fontname = %s];", dotQuote("box"), dotQuote("rounded"), dotQuote("Helvetica"))
	d.line(1, "graph [fontname = %s];", dotQuote("Helvetica"))

	inRollout := map[string]bool{}
	for _, rname := range graphSortedNames(cfg.Rollouts) {
		r := cfg.Rollouts[rname]
		var members []string
		for _, ref := range r.Components {
			if _, ok := cfg.Components[ref.Name]; ok && !inRollout[ref.Name] {
				members = append(members, ref.Name)
				inRollout[ref.Name] = true
			}
		}
		sort.Strings(members)
		d.blank()
		d.line(1, "subgraph %s {", dotQuote("cluster_"+addrs.Rollout(rname).String()))
		label := addrs.Rollout(rname).String()
		if !r.MaxUnavailable.IsZero() {
			label += "\nmax_unavailable " + r.MaxUnavailable.String()
		}
		d.line(2, "label = %s;", dotQuote(label))
		for _, name := range members {
			d.componentNode(2, cfg.Components[name])
		}
		d.line(1, "}")
	}
	// Components that no rollout lists (validate warns about them) are
	// still drawn, outside every cluster, so the graph shows what the
	// campaign declares.
	var loose []string
	for _, name := range graphSortedNames(cfg.Components) {
		if !inRollout[name] {
			loose = append(loose, name)
		}
	}
	if len(loose) > 0 {
		d.blank()
		for _, name := range loose {
			d.componentNode(1, cfg.Components[name])
		}
	}

	var edges []string
	for _, name := range graphSortedNames(cfg.Components) {
		deps := append([]addrs.Ref(nil), cfg.Components[name].DependsOn...)
		addrs.Sort(deps)
		for _, dep := range deps {
			if _, ok := cfg.Components[dep.Name]; !ok {
				continue // an undeclared reference, already a diagnostic
			}
			edges = append(edges, fmt.Sprintf("%s -> %s;", dotQuote(addrs.Component(name).String()), dotQuote(dep.String())))
		}
	}
	if len(edges) > 0 {
		d.blank()
		for _, e := range edges {
			d.line(1, "%s", e)
		}
	}
	d.line(0, "}")
}

func (d *dotWriter) componentNode(indent int, c *config.Component) {
	version := c.Version
	if version == "" {
		// A version from a variable without a value: graph, like
		// validate, does not require the campaign's inputs.
		version = "(version known at plan time)"
	}
	lines := []string{c.Name, version}
	if c.Hosts.Name != "" {
		lines = append(lines, c.Hosts.String())
	}
	if c.Disruption != "" {
		lines = append(lines, "disruption: "+string(c.Disruption))
	}
	d.line(indent, "%s [label = %s];", dotQuote(addrs.Component(c.Name).String()), dotQuote(strings.Join(lines, "\n")))
}

// RenderPlanDOT writes the waves of p in execution order, left to right:
// one cluster per rollout holding one cluster per wave (labelled with its
// number, canary, group and host count) with one node per host visit
// inside, and an arrow from each wave to the next. A plan of more than
// PlanGraphMaxHosts host visits gets one node per wave instead.
func RenderPlanDOT(w io.Writer, p *plans.Plan) {
	d := &dotWriter{w: w}
	visits := 0
	for _, r := range p.Rollouts {
		for _, wv := range r.Waves {
			visits += len(wv.Hosts)
		}
	}
	perHost := visits <= PlanGraphMaxHosts
	t := p.Totals

	d.line(0, "digraph plan {")
	d.line(1, "// escalator graph -type=plan: waves in the order they run; an arrow goes from a wave to the next one.")
	if !perHost {
		d.line(1, "// %d host visits is more than %d: one node per wave (escalator show lists the hosts).", visits, PlanGraphMaxHosts)
	}
	d.line(1, "rankdir = %s;", dotQuote("LR"))
	d.line(1, "compound = true;")
	d.line(1, "node [shape = %s, style = %s, fontname = %s];", dotQuote("box"), dotQuote("rounded"), dotQuote("Helvetica"))
	d.line(1, "graph [fontname = %s, labelloc = %s];", dotQuote("Helvetica"), dotQuote("t"))
	title := "No changes"
	if p.HasChanges() {
		title = fmt.Sprintf("plan: %s in %s, %s", plural(t.Hosts, "host"), plural(t.Waves, "wave"), plural(t.Moves, "move"))
	}
	d.line(1, "label = %s;", dotQuote(title))

	// prev is the node that stands for the previous wave, and whether it
	// sits in a wave cluster: the arrow between two clusters is drawn
	// between one node of each and clipped to the clusters' borders.
	var prev, prevCluster string
	for _, r := range p.Rollouts {
		if len(r.Waves) == 0 {
			continue
		}
		d.blank()
		d.line(1, "subgraph %s {", dotQuote("cluster_"+addrs.Rollout(r.Name).String()))
		label := addrs.Rollout(r.Name).String()
		if r.MaxUnavailable > 0 {
			label += fmt.Sprintf("\nat most %d host%s at a time", r.MaxUnavailable, pluralS(r.MaxUnavailable))
		}
		d.line(2, "label = %s;", dotQuote(label))
		var edges []string
		for _, wv := range r.Waves {
			node, cluster := d.wave(wv, perHost)
			if prev != "" {
				attrs := []string{}
				if prevCluster != "" {
					attrs = append(attrs, "ltail = "+dotQuote(prevCluster))
				}
				if cluster != "" {
					attrs = append(attrs, "lhead = "+dotQuote(cluster))
				}
				e := fmt.Sprintf("%s -> %s", dotQuote(prev), dotQuote(node))
				if len(attrs) > 0 {
					e += " [" + strings.Join(attrs, ", ") + "]"
				}
				edges = append(edges, e+";")
			}
			prev, prevCluster = node, cluster
		}
		d.line(1, "}")
		// Edges go after the cluster: an edge written inside it would
		// pull the previous rollout's node into this cluster.
		for _, e := range edges {
			d.line(1, "%s", e)
		}
	}
	d.line(0, "}")
}

// wave writes one wave and returns the node that stands for it and its
// cluster ("" when the wave is a single node).
func (d *dotWriter) wave(wv *plans.Wave, perHost bool) (node, cluster string) {
	moves := 0
	for _, hv := range wv.Hosts {
		moves += len(hv.Moves)
	}
	lines := []string{fmt.Sprintf("wave %d", wv.Number)}
	if wv.Canary {
		lines[0] += " (canary)"
	}
	if wv.Group != "" {
		lines = append(lines, "group "+wv.Group)
	}
	lines = append(lines, plural(len(wv.Hosts), "host"))
	style := ""
	if wv.Canary {
		// Canaries are drawn dashed: they are the trial run.
		style = ", style = " + dotQuote("rounded,dashed")
	}
	if !perHost {
		node = fmt.Sprintf("wave %d", wv.Number)
		lines = append(lines, plural(moves, "move"))
		d.line(2, "%s [label = %s%s];", dotQuote(node), dotQuote(strings.Join(lines, "\n")), style)
		return node, ""
	}
	cluster = fmt.Sprintf("cluster_wave_%d", wv.Number)
	d.line(2, "subgraph %s {", dotQuote(cluster))
	d.line(3, "label = %s;", dotQuote(strings.Join(lines, "\n")))
	if wv.Canary {
		d.line(3, "style = %s;", dotQuote("dashed"))
	}
	for _, hv := range wv.Hosts {
		id := fmt.Sprintf("wave %d/%s", wv.Number, hv.Host)
		if node == "" {
			node = id
		}
		label := hv.Host
		if hv.Evacuate {
			label += "\n" + plural(len(hv.Moves), "move")
		}
		d.line(3, "%s [label = %s];", dotQuote(id), dotQuote(label))
	}
	if node == "" {
		// A wave always has hosts; should one not, the chain still needs
		// a node to attach to.
		node = fmt.Sprintf("wave %d", wv.Number)
		d.line(3, "%s [label = %s, shape = %s];", dotQuote(node), dotQuote("no hosts"), dotQuote("plaintext"))
	}
	d.line(2, "}")
	return node, cluster
}

// dotWriter writes indented DOT lines.
type dotWriter struct {
	w io.Writer
}

func (d *dotWriter) line(indent int, format string, args ...any) {
	// A failed write to stdout has nowhere to be reported.
	_, _ = fmt.Fprintf(d.w, "%s%s\n", strings.Repeat("  ", indent), fmt.Sprintf(format, args...))
}

func (d *dotWriter) blank() { _, _ = io.WriteString(d.w, "\n") }

// dotQuote quotes s as a DOT string. Line breaks become \n, which DOT
// labels render as centred line breaks; quotes and backslashes are escaped
// so that no name or version can end the string early.
func dotQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch r {
		case '"':
			b.WriteString(`\"`)
		case '\\':
			b.WriteString(`\\`)
		case '\n':
			b.WriteString(`\n`)
		case '\r':
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func graphSortedNames[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
