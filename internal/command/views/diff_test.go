package views

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestUnifiedDiff(t *testing.T) {
	tests := map[string]struct {
		old, new string
		want     string
	}{
		"equal": {
			old:  "a\nb\n",
			new:  "a\nb\n",
			want: "",
		},
		"one line changed": {
			old: "a\nb\nc\n",
			new: "a\nB\nc\n",
			want: `--- old
+++ new
@@ -1,3 +1,3 @@
 a
-b
+B
 c
`,
		},
		"context is three lines and far changes make two hunks": {
			old: "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n",
			new: "1\nX\n3\n4\n5\n6\n7\n8\n9\n10\nY\n12\n",
			want: `--- old
+++ new
@@ -1,5 +1,5 @@
 1
-2
+X
 3
 4
 5
@@ -8,5 +8,5 @@
 8
 9
 10
-11
+Y
 12
`,
		},
		"changes six lines apart share a hunk": {
			old: "1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			new: "X\n2\n3\n4\n5\n6\n7\nY\n9\n",
			want: `--- old
+++ new
@@ -1,9 +1,9 @@
-1
+X
 2
 3
 4
 5
 6
 7
-8
+Y
 9
`,
		},
		"insertion into empty": {
			old: "",
			new: "a\n",
			want: `--- old
+++ new
@@ -0,0 +1 @@
+a
`,
		},
		"deletion of everything": {
			old: "a\nb\n",
			new: "",
			want: `--- old
+++ new
@@ -1,2 +0,0 @@
-a
-b
`,
		},
		"missing final newline": {
			old: "a\nb",
			new: "a\nb\n",
			want: `--- old
+++ new
@@ -1,2 +1,2 @@
 a
-b
\ No newline at end of file
+b
`,
		},
		"insertion after the first line": {
			old: "a\nb\n",
			new: "a\nx\nb\n",
			want: `--- old
+++ new
@@ -1,2 +1,3 @@
 a
+x
 b
`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := string(unifiedDiff("old", "new", []byte(tc.old), []byte(tc.new)))
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("wrong diff (-want +got):\n%s", diff)
			}
		})
	}
}

// TestDiffLinesRandom checks on random inputs that the edit script turns a
// into b and is as short as the longest common subsequence allows.
func TestDiffLinesRandom(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	randLines := func() []string {
		n := r.IntN(12)
		lines := make([]string, n)
		for i := range lines {
			lines[i] = string(rune('a'+r.IntN(4))) + "\n"
		}
		return lines
	}
	for i := range 2000 {
		a, b := randLines(), randLines()
		edits := diffLines(a, b)
		checkEdits(t, a, b, edits)
		var changes int
		for _, e := range edits {
			if e.op != opEqual {
				changes++
			}
		}
		if want := len(a) + len(b) - 2*lcs(a, b); changes != want {
			t.Fatalf("case %d: %q -> %q: %d changes, want %d", i, a, b, changes, want)
		}
	}
}

// TestDiffLinesLimit checks that inputs beyond maxEditDistance still get a
// correct (if not minimal) script.
func TestDiffLinesLimit(t *testing.T) {
	var a, b []string
	for i := range maxEditDistance {
		a = append(a, "a"+strings.Repeat("x", i%7)+"\n")
		b = append(b, "b"+strings.Repeat("x", i%5)+"\n")
	}
	a = append([]string{"same\n"}, a...)
	b = append([]string{"same\n"}, b...)
	checkEdits(t, a, b, diffLines(a, b))
}

func checkEdits(t *testing.T, a, b []string, edits []edit) {
	t.Helper()
	var gotA, gotB []string
	for _, e := range edits {
		switch e.op {
		case opEqual:
			if a[e.a] != b[e.b] {
				t.Fatalf("equal edit on different lines %q and %q", a[e.a], b[e.b])
			}
			gotA, gotB = append(gotA, a[e.a]), append(gotB, b[e.b])
		case opDelete:
			gotA = append(gotA, a[e.a])
		case opInsert:
			gotB = append(gotB, b[e.b])
		}
	}
	if !slices.Equal(gotA, a) || !slices.Equal(gotB, b) {
		t.Fatalf("edit script does not rebuild the inputs:\na=%q\nb=%q\nedits=%v", a, b, edits)
	}
}

func lcs(a, b []string) int {
	dp := make([][]int, len(a)+1)
	for i := range dp {
		dp[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if a[i] == b[j] {
				dp[i][j] = dp[i+1][j+1] + 1
			} else {
				dp[i][j] = max(dp[i+1][j], dp[i][j+1])
			}
		}
	}
	return dp[0][0]
}
