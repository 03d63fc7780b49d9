// Command plancheck checks a plan made by escalator plan against the sim
// cloud it was made for, independently of the scheduler that made it:
//
//	go run ./testing/cmd/plancheck -cloud cloud.json -plan plan.json [-budget 1] [-policies anti-affinity,soft-anti-affinity]
//
// It reads the cloud with package plugins/sim (the cloud's own format) and
// the plan with plain encoding/json into its own types, then replays every
// wave and move over its own model of the cloud and checks that:
//
//   - every move starts where the instance is at that point, and is
//     listed under the visit of the host it leaves;
//   - every destination is in the cloud, in service (up), not in the same
//     wave, in the same availability zone, has the free vCPU and RAM at
//     that moment (capacity minus what is on it, updated move by move),
//     and holds no other member of the instance's anti-affinity group
//     (hard policy; soft co-locations are counted as a warning);
//   - no wave moves more than -budget members of one server group whose
//     policy is in -policies;
//   - no wave that has a group (group_by) mixes availability zones — the
//     check assumes group_by is the zone or finer, as in the benchmarks;
//   - every evacuated host is empty after its wave;
//   - members of a hard affinity group that shared a host still do;
//   - no instance moves twice (a warning with -allow-double);
//   - no wave has more hosts than its rollout's max_unavailable, as the
//     plan states it and, with -max-unavailable, as the campaign says it;
//   - each move's size and server group agree with the cloud;
//   - every destination has the role of the host the instance leaves (a
//     warning, a violation with -same-role): a controller reports
//     capacity but runs no hypervisor for a compute instance.
//
// It prints one summary line,
//
//	PLANCHECK hosts=… waves=… moves=… violations=… double_moves=…
//
// then the first violations and the warnings. Exit status: 0 when the plan
// keeps every rule, 1 when it breaks one, 2 when the input can't be read.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/escalator-nfv/escalator/plugins/sim"
)

// Exit statuses.
const (
	exitOK        = 0
	exitViolation = 1
	exitError     = 2
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run is main with its streams explicit, for tests.
func run(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("plancheck", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cloudPath := fs.String("cloud", "", "the sim cloud file the plan was made for (required)")
	planPath := fs.String("plan", "", "the plan, saved with escalator plan -out or printed by plan -json (required)")
	budget := fs.Int("budget", 1, "most members of one server group a wave may move")
	policies := fs.String("policies", "anti-affinity,soft-anti-affinity", "comma-separated server group policies the budget applies to")
	allowDouble := fs.Bool("allow-double", false, "report instances moved more than once as a warning, not a violation")
	maxU := fs.String("max-unavailable", "", `also check every wave against this max_unavailable ("5%" of the rollout's hosts, or a count)`)
	sameRole := fs.Bool("same-role", false, "report a move to a host of another role (a compute instance sent to a controller) as a violation, not a warning")
	show := fs.Int("show", 20, "violations printed in full")
	if err := fs.Parse(args); err != nil {
		return exitError
	}
	fail := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "plancheck: "+format+"\n", a...)
		return exitError
	}
	switch {
	case fs.NArg() > 0:
		return fail("unexpected arguments %q; every option is a flag", fs.Args())
	case *cloudPath == "" || *planPath == "":
		return fail("-cloud and -plan are required")
	case *budget < 0:
		return fail("-budget=%d: it must be 0 or more", *budget)
	}
	if *maxU != "" {
		if _, err := resolveCountOrPercent(*maxU, 1); err != nil {
			return fail("-max-unavailable: %v", err)
		}
	}
	opts := Options{Budget: *budget, AllowDouble: *allowDouble, MaxUnavailable: *maxU, SameRole: *sameRole}
	for _, p := range strings.Split(*policies, ",") {
		if p = strings.TrimSpace(p); p != "" {
			opts.Policies = append(opts.Policies, p)
		}
	}

	b, err := os.ReadFile(*cloudPath)
	if err != nil {
		return fail("read cloud: %v", err)
	}
	cloud, err := sim.DecodeCloud(b)
	if err != nil {
		return fail("cloud %s: %v", *cloudPath, err)
	}
	b, err = os.ReadFile(*planPath)
	if err != nil {
		return fail("read plan: %v", err)
	}
	doc, err := decodePlan(b)
	if err != nil {
		return fail("plan %s: %v", *planPath, err)
	}

	r := Check(cloud, doc, opts)
	printReport(stdout, r, *show)
	if len(r.Violations) > 0 {
		return exitViolation
	}
	return exitOK
}

// printReport writes the summary line, the first show violations, a count
// per kind when there are more, and the warnings.
func printReport(w io.Writer, r *Report, show int) {
	fmt.Fprintln(w, r.Summary())
	for i, v := range r.Violations {
		if i == show {
			fmt.Fprintf(w, "... and %d more violations\n", len(r.Violations)-show)
			break
		}
		fmt.Fprintf(w, "violation: %s\n", v)
	}
	if len(r.Violations) > show {
		kinds := r.ByKind()
		var parts []string
		for _, k := range sortedKeys(kinds) {
			parts = append(parts, fmt.Sprintf("%s=%d", k, kinds[k]))
		}
		fmt.Fprintf(w, "violations by kind: %s\n", strings.Join(parts, " "))
	}
	for _, s := range r.Warnings {
		fmt.Fprintf(w, "warning: %s\n", s)
	}
	fmt.Fprintf(w, "instances moved: %d; most members of one budgeted group moved in a wave: %d\n", r.InstancesMoved, r.MaxGroupImpact)
}
