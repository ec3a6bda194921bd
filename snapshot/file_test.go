package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestPathFor(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		file, name, want string
	}{
		{"suites/users.cleanroom.toml", "users", "suites/__snapshots__/users.snap"},
		{"users.cleanroom.toml", "user api", "__snapshots__/user%20api.snap"},
		{"/p/a.cleanroom.toml", "a/b", "/p/__snapshots__/a%2Fb.snap"},
		{"/p/a.cleanroom.toml", "v1.2_x-y", "/p/__snapshots__/v1.2_x-y.snap"},
		{"/p/a.cleanroom.toml", ".hidden", "/p/__snapshots__/%2Ehidden.snap"},
		{"/p/a.cleanroom.toml", "..", "/p/__snapshots__/%2E..snap"},
		{"/p/a.cleanroom.toml", "50%", "/p/__snapshots__/50%25.snap"},
		{"/p/a.cleanroom.toml", "Prüfung", "/p/__snapshots__/Pr%C3%BCfung.snap"},
		{"/p/a.cleanroom.toml", "", "/p/__snapshots__/%.snap"},
	}
	for _, tt := range tests {
		if got := PathFor(tt.file, tt.name); got != filepath.FromSlash(tt.want) {
			t.Errorf("PathFor(%q, %q) = %q, want %q", tt.file, tt.name, got, tt.want)
		}
	}
	// Names too long for a file system are cut and told apart by a hash.
	a, b := PathFor("s.toml", long+"a"), PathFor("s.toml", long+"b")
	if a == b {
		t.Errorf("two long names share %s", a)
	}
	if n := len(filepath.Base(a)); n > 255 {
		t.Errorf("base name of %d bytes", n)
	}
}

// The file is meant to be read in review: this is exactly what it looks
// like (the example of the package doc).
func TestSaveFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), DirName, "demo.snap")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	f.Set("home page", "<h1>hello</h1>\n\n<p>ok</p>\n")
	f.Set("banner", "ready")
	f.Set("headers", "HTTP/1.1 200 OK\r\nServer: demo \r\n\r\n")
	f.Set("empty", "")
	f.Set("=== not a header", "=== x\n| y\n\"z\"\n\\ no newline at end\n# c\n")
	f.Set("two\nlines", "\x00\xff\t\n")
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	want := suiteHeader + `
=== === not a header
| === x
| | y
| "z"
| \ no newline at end
| # c

=== banner
| ready
\ no newline at end

=== empty

=== headers
"HTTP/1.1 200 OK\r"
"Server: demo \r"
"\r"

=== home page
| <h1>hello</h1>
|
| <p>ok</p>

=== "two\nlines"
"\x00\xff\t"
`
	if string(data) != want {
		t.Errorf("file:\n%s\nwant:\n%s\ndiff:\n%s", data, want, Diff(want, string(data)))
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, g, f)
}

func TestRoundTrip(t *testing.T) {
	contents := []string{
		"", "\n", "\n\n", "a", "a\n", "a\n\n", "\na", " ", "a ", " a", "a\t", "\ta",
		"\r", "\r\n", "a\r\nb\r\n", "a\rb", "line\r", "=== name\n", "=== name", "|", "| x", `"quoted"`,
		`"unterminated`, `\ no newline at end`, "# comment\n", "\xff\xfe", "é\u00a0\u200b\ufeff", "\x1b[31mred\x1b[0m\n",
		strings.Repeat("long line ", 100_000) + "\n", strings.Repeat("\n", 1000), "nul\x00byte",
	}
	names := []string{"a", "", " ", "a b", " lead", "trail ", `"q"`, "tab\there", "new\nline", "\xff", "=== x", "é", "#", "|"}
	dir := t.TempDir()
	for i, c := range contents {
		for j, n := range names {
			if (i+j)%3 != 0 { // every content and name, not every pair
				continue
			}
			path := filepath.Join(dir, "rt.snap")
			f, err := Open(path)
			if err != nil {
				t.Fatal(err)
			}
			f.Set(n, c)
			f.Set("other", "x\n")
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
			g, err := Open(path)
			if err != nil {
				t.Fatalf("name %q content %q: %v", n, c, err)
			}
			assertSame(t, g, f)
			checkReadable(t, path)
			for _, name := range f.Names() {
				f.Delete(name)
			}
			if err := f.Save(); err != nil {
				t.Fatal(err)
			}
		}
	}
}

func assertSame(t *testing.T, got, want *File) {
	t.Helper()
	gn, wn := got.Names(), want.Names()
	if strings.Join(gn, "\x00") != strings.Join(wn, "\x00") {
		t.Fatalf("names %q, want %q", gn, wn)
	}
	for _, n := range wn {
		g, _ := got.Get(n)
		w, _ := want.Get(n)
		if g != w {
			t.Fatalf("entry %q reads back as %q, want %q", n, truncate(g, 200), truncate(w, 200))
		}
	}
}

// checkReadable checks the promises of the format: nothing invisible,
// nothing an editor or a checkout changes.
func checkReadable(t *testing.T, path string) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s := string(data)
	if !strings.HasSuffix(s, "\n") {
		t.Errorf("%s does not end in a newline", path)
	}
	for i, line := range strings.Split(strings.TrimSuffix(s, "\n"), "\n") {
		if !plainLine(line) {
			t.Fatalf("%s:%d: line %q has invisible characters or trailing space", path, i+1, truncate(line, 80))
		}
	}
}

func TestOpenMissing(t *testing.T) {
	path := filepath.Join(t.TempDir(), DirName, "none.snap")
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Names()) != 0 || f.Path() != path {
		t.Fatalf("got %q at %s", f.Names(), f.Path())
	}
	// Nothing to write: no file, no directory.
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Save of an empty file made %s: %v", filepath.Dir(path), err)
	}
}

func TestOpenErrors(t *testing.T) {
	tests := []struct {
		name, data string
		line       int
		msg        string
	}{
		{"content before header", "# c\n| x\n", 2, "before the first"},
		{"gap in content", "=== a\n| x\n\n| y\n", 4, "after a blank or comment line"},
		{"comment in content", "=== a\n| x\n# c\n| y\n", 4, "after a blank or comment line"},
		{"duplicate", "=== a\n\n=== b\n\n=== a\n", 5, `entry "a" again (first at line 1)`},
		{"marker without line", "=== a\n\\ no newline at end\n", 2, "must follow a content line"},
		{"marker twice", "=== a\n| x\n\\ no newline at end\n\\ no newline at end\n", 4, "must follow a content line"},
		{"line after marker", "=== a\n| x\n\\ no newline at end\n| y\n", 4, "content line after"},
		{"bad quoted line", "=== a\n\"x\n", 2, "bad quoted line"},
		{"bad quoted name", "=== \"a\n", 1, "bad quoted name"},
		{"unknown line", "=== a\n|x\n", 2, `unexpected line "|x"`},
		{"bare header", "===\n", 1, "unexpected line"},
		{"text", "hello\n", 1, "unexpected line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "bad.snap")
			if err := os.WriteFile(path, []byte(tt.data), 0o644); err != nil {
				t.Fatal(err)
			}
			_, err := Open(path)
			var fe *FormatError
			if !errors.As(err, &fe) {
				t.Fatalf("Open = %v, want a *FormatError", err)
			}
			if fe.Path != path || fe.Line != tt.line || !strings.Contains(fe.Msg, tt.msg) {
				t.Errorf("got %v, want %s:%d: …%s…", err, path, tt.line, tt.msg)
			}
			if !strings.HasPrefix(err.Error(), path+":") {
				t.Errorf("error %q does not start with the path", err)
			}
		})
	}
}

func TestOpenUnreadable(t *testing.T) {
	dir := t.TempDir()
	_, err := Open(dir) // a directory
	if err == nil || !strings.Contains(err.Error(), dir) {
		t.Fatalf("Open(dir) = %v, want an error naming it", err)
	}
}

// A checkout that turned line endings into CRLF changes nothing: the file
// itself never holds a carriage return.
func TestOpenCRLFCheckout(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "x.snap")
	f, _ := Open(path)
	f.Set("a", "one\r\ntwo\n")
	f.Set("b", "no eol")
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(path)
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(string(data), "\n", "\r\n")), 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	assertSame(t, g, f)
}

// A hand-written file may lack the header and the last newline.
func TestOpenLenient(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.snap")
	if err := os.WriteFile(path, []byte("=== a\n| 1\n=== b\n| 2"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"a": "1\n", "b": "2\n"} {
		if got, _ := f.Get(name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
}

func TestSave(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, DirName, "s.snap")
	f, _ := Open(path)
	f.Set("a", "1\n")
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}

	t.Run("no write when nothing changed", func(t *testing.T) {
		g, err := Open(path)
		if err != nil {
			t.Fatal(err)
		}
		g.Set("a", "1\n")     // same value
		g.Delete("not there") // nothing to delete
		// A change on disk that a write would undo.
		if err := os.WriteFile(path, []byte("=== a\n| 1\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
		if data, _ := os.ReadFile(path); string(data) != "=== a\n| 1\n" {
			t.Errorf("Save rewrote an unchanged file:\n%s", data)
		}
	})

	t.Run("keeps the file mode", func(t *testing.T) {
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
		g, _ := Open(path)
		g.Set("b", "2\n")
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("mode %v, want 0600", fi.Mode().Perm())
		}
	})

	t.Run("no temporary file left", func(t *testing.T) {
		entries, err := os.ReadDir(filepath.Dir(path))
		if err != nil {
			t.Fatal(err)
		}
		if len(entries) != 1 {
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			t.Errorf("directory holds %q", names)
		}
	})

	t.Run("removes the file and directory when empty", func(t *testing.T) {
		g, _ := Open(path)
		for _, n := range g.Names() {
			g.Delete(n)
		}
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Dir(path)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there: %v", filepath.Dir(path), err)
		}
	})

	t.Run("keeps a directory other files are in", func(t *testing.T) {
		other := filepath.Join(dir, DirName, "other.snap")
		o, _ := Open(other)
		o.Set("x", "")
		if err := o.Save(); err != nil {
			t.Fatal(err)
		}
		g, _ := Open(path)
		g.Set("a", "1")
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
		g.Delete("a")
		if err := g.Save(); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(other); err != nil {
			t.Error(err)
		}
	})

	t.Run("error names the file", func(t *testing.T) {
		blocker := filepath.Join(dir, "blocker")
		bad := filepath.Join(blocker, DirName, "x.snap")
		g, err := Open(bad)
		if err != nil {
			t.Fatal(err)
		}
		// The directory cannot be made once a file has its name.
		if err := os.WriteFile(blocker, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		g.Set("a", "1")
		err = g.Save()
		if err == nil || !strings.Contains(err.Error(), bad) {
			t.Errorf("Save = %v, want an error naming %s", err, bad)
		}
	})
}

func TestNames(t *testing.T) {
	f, _ := Open(filepath.Join(t.TempDir(), "n.snap"))
	for _, n := range []string{"b", "a", "B", "é", ""} {
		f.Set(n, n)
	}
	if got := strings.Join(f.Names(), ","); got != ",B,a,b,é" {
		t.Errorf("Names = %q", got)
	}
}
