package expect

import (
	"strings"
	"testing"
)

func TestTextDiff(t *testing.T) {
	for _, tc := range []struct {
		name          string
		expected, got string
		want          string
	}{
		{"equal", "a\nb\n", "a\nb\n", ""},
		{"one changed line with context", "a\nb\nc\nd\ne\nf\ng\nh\n", "a\nb\nc\nd\nE\nf\ng\nh\n", `--- expected
+++ got
@@ -2,7 +2,7 @@
 b
 c
 d
-e
+E
 f
 g
 h
`},
		{"two hunks", "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", "1\nTWO\n3\n4\n5\n6\n7\n8\n9\n10\n11\n", `--- expected
+++ got
@@ -1,5 +1,5 @@
 1
-2
+TWO
 3
 4
 5
@@ -9,4 +9,3 @@
 9
 10
 11
-12
`},
		{"changes six lines apart share a hunk", "a\nb\n1\n2\n3\n4\n5\nc\n", "A\nb\n1\n2\n3\n4\n5\nC\n", `--- expected
+++ got
@@ -1,8 +1,8 @@
-a
+A
 b
 1
 2
 3
 4
 5
-c
+C
`},
		{"seven lines apart make two hunks", "a\nb\n1\n2\n3\n4\n5\n6\nc\n", "A\nb\n1\n2\n3\n4\n5\n6\nC\n", `--- expected
+++ got
@@ -1,4 +1,4 @@
-a
+A
 b
 1
 2
@@ -6,4 +6,4 @@
 4
 5
 6
-c
+C
`},
		{"insert into empty", "", "x\ny\n", `--- expected
+++ got
@@ -0,0 +1,2 @@
+x
+y
`},
		{"delete all", "x\ny\n", "", `--- expected
+++ got
@@ -1,2 +0,0 @@
-x
-y
`},
		{"missing final newline", "a\nb\n", "a\nb", `--- expected
+++ got
@@ -1,2 +1,2 @@
 a
-b
+b
\ No newline at end of file
`},
		{"replaced block reads old then new", "keep\nx1\nx2\nkeep2\n", "keep\ny1\ny2\nkeep2\n", `--- expected
+++ got
@@ -1,4 +1,4 @@
 keep
-x1
-x2
+y1
+y2
 keep2
`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := TextDiff(tc.expected, tc.got); got != tc.want {
				t.Errorf("TextDiff:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// TestTextGolden is the whole failure a multi-line stdout mismatch gives.
func TestTextGolden(t *testing.T) {
	expected := "users:\n  ada\n  grace\n  linus\ncount: 3\n"
	got := "users:\n  ada\n  linus\n  ken\ncount: 3\n"
	const want = `stdout: expected and got differ:
--- expected
+++ got
@@ -1,5 +1,5 @@
 users:
   ada
-  grace
   linus
+  ken
 count: 3`
	r := Text("stdout", expected, got)
	if len(r.Failures) != 1 {
		t.Fatalf("got %d failures, want 1", len(r.Failures))
	}
	f := r.Failures[0]
	if f.String() != want {
		t.Errorf("message:\n%s\nwant:\n%s", f, want)
	}
	if f.Expected != `"users:\n  ada\n  grace\n  linus\ncount: 3\n"` || f.Got != `"users:\n  ada\n  linus\n  ken\ncount: 3\n"` {
		t.Errorf("Expected %s, Got %s: want both texts quoted in full", f.Expected, f.Got)
	}
}

func TestTextOneLineHasNoDiff(t *testing.T) {
	wantMessages(t, Text("stdout", "hello\n", "helo\n"), `stdout: expected "hello\n", got "helo\n"`)
	wantMessages(t, Text("stdout", "hello\n", "hello\n"))
	r := Text("stdout", "a", "a\nb")
	if len(r.Failures) != 1 || r.Failures[0].Diff == "" {
		t.Errorf("one line against two: %v, want a diff", r)
	}
}

func TestTextDiffLargeInputStaysBounded(t *testing.T) {
	// Beyond maxDiffCells the middle is shown removed then added: still a
	// correct diff, computed without a huge table.
	var a, b strings.Builder
	for i := range 3000 {
		a.WriteString("a" + strings.Repeat("x", i%7) + "\n")
		b.WriteString("b" + strings.Repeat("y", i%5) + "\n")
	}
	d := TextDiff(a.String(), b.String())
	if got := strings.Count(d, "\n-"); got != 3000 {
		t.Errorf("%d removed lines, want 3000", got)
	}
	if got := strings.Count(d, "\n+"); got != 3000+1 { // +1: the "+++ got" header
		t.Errorf("%d added lines, want 3000", got-1)
	}
}

func TestUnifiedDiffNamesAndLine(t *testing.T) {
	quote := func(s string) string { return "<" + s + ">" }
	got := UnifiedDiff("a\nb\n", "a\nc", DiffOptions{From: "run 1", To: "run 2", Line: quote})
	want := "--- run 1\n+++ run 2\n@@ -1,2 +1,2 @@\n <a>\n-<b>\n+<c>\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	if got, want := UnifiedDiff("x\n", "y\n", DiffOptions{From: "expected", To: "got"}), TextDiff("x\n", "y\n"); got != want {
		t.Errorf("UnifiedDiff without Line:\n%s\nTextDiff:\n%s", got, want)
	}
}
