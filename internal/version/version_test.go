package version

import "testing"

func TestString(t *testing.T) {
	defer func(v string) { Version = v }(Version)

	for _, tc := range []struct{ version, number, str string }{
		{"0.1.0-dev", "0.1.0-dev", "escalator v0.1.0-dev"},
		{"1.2.3", "1.2.3", "escalator v1.2.3"},
		{"v1.2.3", "1.2.3", "escalator v1.2.3"},
	} {
		Version = tc.version
		if got := Number(); got != tc.number {
			t.Errorf("Version=%q: Number() = %q, want %q", tc.version, got, tc.number)
		}
		if got := String(); got != tc.str {
			t.Errorf("Version=%q: String() = %q, want %q", tc.version, got, tc.str)
		}
	}
}
