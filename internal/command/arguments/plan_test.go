package arguments

import (
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestParsePlan(t *testing.T) {
	tests := []struct {
		args    []string
		want    *Plan
		wantErr string
	}{
		{nil, &Plan{Dir: ".", Parallelism: 10}, ""},
		{[]string{"-out=p.json", "-json", "-detailed-exitcode", "-parallelism=4", "dir"},
			&Plan{Dir: "dir", Out: "p.json", ViewType: ViewJSON, DetailedExitCode: true, Parallelism: 4}, ""},
		{[]string{"-var", "a=1", "-var-file=x.hclvars", "-var", "b=2"},
			&Plan{Dir: ".", Parallelism: 10, Vars: []VarArg{{Name: "a", Value: "1"}, {File: "x.hclvars"}, {Name: "b", Value: "2"}}}, ""},
		{[]string{"-parallelism=0"}, &Plan{Dir: ".", Parallelism: 1}, "at least 1"},
		{[]string{"a", "b"}, &Plan{Dir: "a", Parallelism: 10}, "too many"},
		{[]string{"-bogus"}, nil, "not defined"},
	}
	for _, tt := range tests {
		got, errs := ParsePlan(tt.args)
		if tt.wantErr != "" {
			if len(errs) == 0 || !strings.Contains(errs[len(errs)-1].Error(), tt.wantErr) {
				t.Errorf("ParsePlan(%q) errs = %v, want %q", tt.args, errs, tt.wantErr)
			}
		} else if len(errs) > 0 {
			t.Errorf("ParsePlan(%q) errs = %v", tt.args, errs)
		}
		if tt.want != nil {
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParsePlan(%q) (-want +got):\n%s", tt.args, diff)
			}
		}
	}
}

func TestParseShowAndGraph(t *testing.T) {
	if s, errs := ParseShow([]string{"-json", "p.json"}); len(errs) > 0 || s.Path != "p.json" || s.ViewType != ViewJSON {
		t.Errorf("show: %+v %v", s, errs)
	}
	if _, errs := ParseShow(nil); len(errs) == 0 {
		t.Error("show without a file: no error")
	}
	if g, errs := ParseGraph([]string{"-type=plan", "-plan=p.json", "d"}); len(errs) > 0 || g.Type != "plan" || g.Dir != "d" {
		t.Errorf("graph: %+v %v", g, errs)
	}
	for _, args := range [][]string{{"-type=plan"}, {"-type=waves"}, {"-plan=x"}} {
		if _, errs := ParseGraph(args); len(errs) == 0 {
			t.Errorf("graph %q: no error", args)
		}
	}
}

func TestParseApplyAndStatus(t *testing.T) {
	a, errs := ParseApply([]string{"-auto-approve", "-parallelism=3", "p.json"})
	if len(errs) > 0 || !a.AutoApprove || a.Parallelism != 3 || a.PlanFile != "p.json" {
		t.Errorf("apply: %+v %v", a, errs)
	}
	if _, errs := ParseApply([]string{"-var", "a=1", "p.json"}); len(errs) == 0 {
		t.Error("apply: -var with a saved plan accepted")
	}
	if _, errs := ParseApply([]string{"a", "b"}); len(errs) == 0 {
		t.Error("apply: two plan files accepted")
	}
	if s, errs := ParseStatus([]string{"-json"}); len(errs) > 0 || s.ViewType != ViewJSON {
		t.Errorf("status: %+v %v", s, errs)
	}
}
