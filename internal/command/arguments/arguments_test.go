package arguments

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

// errStrings turns errors into their messages so that tests can compare them.
func errStrings(errs []error) []string {
	var out []string
	for _, err := range errs {
		out = append(out, err.Error())
	}
	return out
}

// checkErrs compares errs with the expected messages (nil for none).
func checkErrs(t *testing.T, errs []error, want []string) {
	t.Helper()
	if diff := cmp.Diff(want, errStrings(errs)); diff != "" {
		t.Errorf("wrong errors (-want +got):\n%s", diff)
	}
}

func TestViewTypeString(t *testing.T) {
	for vt, want := range map[ViewType]string{ViewHuman: "human", ViewJSON: "json", ViewType(42): "ViewType(42)"} {
		if got := vt.String(); got != want {
			t.Errorf("ViewType(%d).String() = %q, want %q", int(vt), got, want)
		}
	}
}
