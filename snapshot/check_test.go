package snapshot

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name      string
		stored    *string // nil: no entry
		got       string
		mode      Mode
		status    Status
		wantAfter *string // the entry afterwards; nil: none
	}{
		{"match", new("a\n"), "a\n", Mode{}, Matched, new("a\n")},
		{"match in CI", new("a\n"), "a\n", Mode{CI: true}, Matched, new("a\n")},
		{"match when updating", new("a\n"), "a\n", Mode{Update: true}, Matched, new("a\n")},
		{"mismatch", new("a\n"), "b\n", Mode{}, Mismatch, new("a\n")},
		{"mismatch in CI", new("a\n"), "b\n", Mode{CI: true}, Mismatch, new("a\n")},
		{"update", new("a\n"), "b\n", Mode{Update: true}, Updated, new("b\n")},
		{"update in CI", new("a\n"), "b\n", Mode{Update: true, CI: true}, Updated, new("b\n")},
		{"create", nil, "b\n", Mode{}, Created, new("b\n")},
		{"create empty", nil, "", Mode{}, Created, new("")},
		{"missing in CI", nil, "b\n", Mode{CI: true}, Missing, nil},
		{"create in CI when updating", nil, "b\n", Mode{CI: true, Update: true}, Created, new("b\n")},
		{"empty is not missing", new(""), "", Mode{CI: true}, Matched, new("")},
		{"newline matters", new("a"), "a\n", Mode{}, Mismatch, new("a")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.snap")
			f, _ := Open(path)
			if tt.stored != nil {
				f.Set("x", *tt.stored)
				if err := f.Save(); err != nil {
					t.Fatal(err)
				}
			}
			r := f.Check("x", tt.got, tt.mode)
			if r.Status != tt.status || r.Name != "x" || r.Got != tt.got {
				t.Fatalf("Check = %+v, want status %s", r, tt.status)
			}
			if r.Failed() != (tt.status == Mismatch || tt.status == Missing) {
				t.Errorf("Failed() = %v for %s", r.Failed(), r.Status)
			}
			if (r.Diff != "") != (tt.status == Mismatch || tt.status == Updated) {
				t.Errorf("Diff %q for %s", r.Diff, r.Status)
			}
			if tt.stored != nil && r.Want != *tt.stored {
				t.Errorf("Want = %q, want %q", r.Want, *tt.stored)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			g, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			after, ok := g.Get("x")
			if ok != (tt.wantAfter != nil) || (ok && after != *tt.wantAfter) {
				t.Errorf("on disk afterwards: %q (%v), want %v", after, ok, tt.wantAfter)
			}
		})
	}
}

func TestResultString(t *testing.T) {
	f, _ := Open(filepath.Join(t.TempDir(), "r.snap"))
	f.Set("page", "a\nb\n")
	r := f.Check("page", "a\nc\n", Mode{})
	want := `snapshot "page" differs (- snapshot, + got); if the change is intended, rerun with --update-snapshots or CLEANROOM_UPDATE_SNAPSHOTS=1:
--- snapshot
+++ got
@@ -1,2 +1,2 @@
 a
-b
+c
`
	if r.String() != want {
		t.Errorf("got\n%s\nwant\n%s", r, want)
	}
	if s := f.Check("new", "x", Mode{CI: true}).String(); !strings.Contains(s, "missing") || !strings.Contains(s, UpdateEnv+"=1") {
		t.Errorf("Missing says %q", s)
	}
	if s := f.Check("page", "a\nb\n", Mode{}).String(); s != `snapshot "page" matched` {
		t.Errorf("Matched says %q", s)
	}
}

func TestModeFromEnv(t *testing.T) {
	tests := []struct {
		update, ci string
		flag       bool
		want       Mode
	}{
		{"", "", false, Mode{}},
		{"", "", true, Mode{Update: true}},
		{"1", "", false, Mode{Update: true}},
		{"true", "", false, Mode{Update: true}},
		{"TRUE", "", false, Mode{Update: true}},
		{"0", "", false, Mode{}},
		{"yes", "", false, Mode{}},
		{"", "true", false, Mode{CI: true}},
		{"", "1", false, Mode{CI: true}},
		{"", "woodpecker", false, Mode{CI: true}},
		{"", "0", false, Mode{}},
		{"", "false", false, Mode{}},
		{"", "False", false, Mode{}},
		{"1", "true", false, Mode{Update: true, CI: true}},
	}
	for _, tt := range tests {
		t.Setenv(UpdateEnv, tt.update)
		t.Setenv("CI", tt.ci)
		if got := ModeFromEnv(tt.flag); got != tt.want {
			t.Errorf("update=%q CI=%q flag=%v: %+v, want %+v", tt.update, tt.ci, tt.flag, got, tt.want)
		}
	}
}

func TestDiff(t *testing.T) {
	tests := []struct {
		name, want, got, diff string
	}{
		{"equal", "a\n", "a\n", ""},
		{"one line", "a\nb\nc\n", "a\nx\nc\n", "@@ -1,3 +1,3 @@\n a\n-b\n+x\n c\n"},
		{"added at the end", "a\n", "a\nb\n", "@@ -1 +1,2 @@\n a\n+b\n"},
		{"from nothing", "", "a\n", "@@ -0,0 +1 @@\n+a\n"},
		{"to nothing", "a\n", "", "@@ -1 +0,0 @@\n-a\n"},
		{"no final newline", "a", "a\n", "@@ -1 +1 @@\n-a\n\\ No newline at end of file\n+a\n"},
		{"carriage return shown", "a\n", "a\r\n", "@@ -1 +1 @@\n-a\n+\"a\\r\"\n"},
		{"trailing space shown", "a\n", "a \n", "@@ -1 +1 @@\n-a\n+\"a \"\n"},
		{"context and two hunks",
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\n14\n15\n",
			"1\n2\nX\n4\n5\n6\n7\n8\n9\n10\n11\n12\n13\nY\n15\n",
			"@@ -1,6 +1,6 @@\n 1\n 2\n-3\n+X\n 4\n 5\n 6\n@@ -11,5 +11,5 @@\n 11\n 12\n 13\n-14\n+Y\n 15\n"},
		{"close changes share a hunk",
			"1\n2\n3\n4\n5\n6\n7\n8\n",
			"X\n2\n3\n4\n5\n6\n7\nY\n",
			"@@ -1,8 +1,8 @@\n-1\n+X\n 2\n 3\n 4\n 5\n 6\n 7\n-8\n+Y\n"},
		{"farther changes do not",
			"1\n2\n3\n4\n5\n6\n7\n8\n9\n",
			"X\n2\n3\n4\n5\n6\n7\n8\nY\n",
			"@@ -1,4 +1,4 @@\n-1\n+X\n 2\n 3\n 4\n@@ -6,4 +6,4 @@\n 6\n 7\n 8\n-9\n+Y\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.diff
			if want != "" {
				want = "--- snapshot\n+++ got\n" + want
			}
			if got := Diff(tt.want, tt.got); got != want {
				t.Errorf("Diff(%q, %q)\n got:\n%s\nwant:\n%s", tt.want, tt.got, got, want)
			}
		})
	}
}

// Texts too long for the table still diff, coarsely.
func TestDiffLarge(t *testing.T) {
	var a, b strings.Builder
	for i := range 5000 {
		a.WriteString("a" + strings.Repeat("x", i%7) + "\n")
		b.WriteString("b" + strings.Repeat("x", i%7) + "\n")
	}
	d := Diff("head\n"+a.String()+"tail\n", "head\n"+b.String()+"tail\n")
	if !strings.HasPrefix(d, "--- snapshot\n+++ got\n@@ -1,5002 +1,5002 @@\n head\n-a\n") || !strings.HasSuffix(d, "+b\n+bx\n tail\n") {
		t.Errorf("diff starts %q, ends %q", d[:80], d[len(d)-40:])
	}
}

func TestColorDiff(t *testing.T) {
	d := Diff("--x\na\n", "++y\na\n")
	got := ColorDiff(d)
	want := "\x1b[1m--- snapshot\x1b[0m\n\x1b[1m+++ got\x1b[0m\n\x1b[36m@@ -1,2 +1,2 @@\x1b[0m\n" +
		"\x1b[31m---x\x1b[0m\n\x1b[32m+++y\x1b[0m\n a\n"
	if got != want {
		t.Errorf("got %q\nwant %q", got, want)
	}
	if ColorDiff("") != "" {
		t.Error("ColorDiff of nothing is something")
	}
}
