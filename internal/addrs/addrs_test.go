package addrs

import "testing"

func TestRef(t *testing.T) {
	tests := []struct {
		ref       Ref
		str, decl string
	}{
		{Component("nova"), "component.nova", `component "nova"`},
		{Variable("zone"), "var.zone", `variable "zone"`},
		{Local("x"), "local.x", "local.x"},
		{Hosts("compute"), "hosts.compute", `hosts "compute"`},
	}
	for _, tt := range tests {
		if got := tt.ref.String(); got != tt.str {
			t.Errorf("String() = %q, want %q", got, tt.str)
		}
		if got := tt.ref.Decl(); got != tt.decl {
			t.Errorf("Decl() = %q, want %q", got, tt.decl)
		}
	}
	if !IsKind("component") || IsKind("components") {
		t.Error("IsKind misclassifies")
	}
	refs := []Ref{Rollout("b"), Component("z"), Component("a")}
	Sort(refs)
	if refs[0] != Component("a") || refs[2] != Rollout("b") {
		t.Errorf("Sort = %v", refs)
	}
}
