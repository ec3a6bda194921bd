package snapshot

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzRoundTrip: any set of names and contents survives Save and Open byte
// for byte, and the file written keeps the promises of the format.
func FuzzRoundTrip(f *testing.F) {
	f.Add("a", "hello\n", "b", "", "c", "no eol")
	f.Add("", "\r\n", " ", " trailing \n", "\"q\"", "\"q\"\n")
	f.Add("=== x", "=== y\n| z\n", "new\nline", "\\ no newline at end", "#", "# c\n\n")
	f.Add("\xff", "\xff\x00\x1b[0m", "tab\t", "\t\n\t", "é", "\u2028\ufeff\u00a0 \n")
	f.Add("|", "|\n| \n|", "x", "\n\n\n", "y", "a\rb\r")
	dir := f.TempDir()
	path := filepath.Join(dir, DirName, "fuzz.snap")
	f.Fuzz(func(t *testing.T, n1, c1, n2, c2, n3, c3 string) {
		if err := os.RemoveAll(filepath.Dir(path)); err != nil {
			t.Fatal(err)
		}
		want := map[string]string{n1: c1, n2: c2, n3: c3}
		sf, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		for n, c := range want {
			sf.Set(n, c)
		}
		if err := sf.Save(); err != nil {
			t.Fatal(err)
		}
		got, err := Open(path)
		if err != nil {
			data, _ := os.ReadFile(path)
			t.Fatalf("Open of what Save wrote: %v\n%s", err, data)
		}
		if names := got.Names(); len(names) != len(want) {
			t.Fatalf("names %q, want those of %q", names, want)
		}
		for n, c := range want {
			if g, ok := got.Get(n); !ok || g != c {
				t.Fatalf("entry %q = %q (%v), want %q", n, g, ok, c)
			}
		}
		checkReadable(t, path)
	})
}

// FuzzOpen: Open never panics, and whatever it reads, written again, reads
// back the same.
func FuzzOpen(f *testing.F) {
	f.Add([]byte(suiteHeader + "\n=== a\n| x\n\\ no newline at end\n\n=== \"b\\n\"\n\"\\r\"\n"))
	f.Add([]byte("=== a\r\n| x\r\n"))
	f.Add([]byte("=== a\n|x\n"))
	f.Add([]byte("=== \"\n"))
	f.Add([]byte("# only a comment"))
	f.Fuzz(func(t *testing.T, data []byte) {
		first := map[string]string{}
		if err := parse("fuzz.snap", string(data), first); err != nil {
			if _, ok := err.(*FormatError); !ok {
				t.Fatalf("error %T, want *FormatError", err)
			}
			return
		}
		again := map[string]string{}
		out := encode(suiteHeader, first)
		if err := parse("again.snap", string(out), again); err != nil {
			t.Fatalf("re-encoded file does not parse: %v\n%s", err, out)
		}
		if !maps.Equal(first, again) {
			t.Fatalf("read %q, after writing %q", first, again)
		}
		if s := string(encode(suiteHeader, again)); s != string(out) {
			t.Fatalf("encoding is not stable:\n%s\n%s", out, s)
		}
	})
}

// FuzzNormalize: the built-in normalizers are idempotent and never panic.
func FuzzNormalize(f *testing.F) {
	for _, tt := range builtinTests {
		f.Add(tt.in)
	}
	f.Add(strings.Repeat("2026-11-26T08:39:54.5Z1s a1b2c3d4e5f6 ", 3))
	n := NewNormalizer(WithLiteral("32771", "<PORT>"), WithLiteral("0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "<SESSION>"))
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := normalizeBuiltins(s), wholeText(s); got != want {
			t.Fatalf("line by line differs from the whole text:\n in   %q\n got  %q\n want %q", s, got, want)
		}
		once := n.String(s)
		if twice := n.String(once); twice != once {
			t.Fatalf("not idempotent:\n in    %q\n once  %q\n twice %q", s, once, twice)
		}
	})
}

// wholeText is normalizeBuiltins without the line-by-line shortcut: each
// expression over the whole text until it finds nothing more.
func wholeText(s string) string {
	fixpoint := func(s string, f func(string) string) string {
		for {
			r := f(s)
			if r == s {
				return s
			}
			s = r
		}
	}
	s = fixpoint(s, func(s string) string { return timestampRE.ReplaceAllLiteralString(s, PlaceholderTime) })
	s = uuidRE.ReplaceAllLiteralString(s, PlaceholderUUID)
	s = containerRE.ReplaceAllStringFunc(s, func(m string) string {
		if strings.ContainsAny(m, "abcdef") && strings.ContainsAny(m, "0123456789") {
			return PlaceholderContainer
		}
		return m
	})
	return durationRE.ReplaceAllLiteralString(s, PlaceholderDuration)
}
