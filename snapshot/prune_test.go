package snapshot

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func writeSnap(t *testing.T, path string, entries map[string]string) {
	t.Helper()
	f, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	for n, v := range entries {
		f.Set(n, v)
	}
	if err := f.Save(); err != nil {
		t.Fatal(err)
	}
}

func TestPrune(t *testing.T) {
	dir := t.TempDir()
	users := PathFor(filepath.Join(dir, "users.cleanroom.toml"), "users")
	orders := PathFor(filepath.Join(dir, "shop", "orders.cleanroom.toml"), "orders")
	gone := PathFor(filepath.Join(dir, "shop", "old.cleanroom.toml"), "old")
	emptied := PathFor(filepath.Join(dir, "x", "e.cleanroom.toml"), "emptied")
	writeSnap(t, users, map[string]string{"list": "1\n", "stale": "2\n", "also stale": ""})
	writeSnap(t, orders, map[string]string{"a": "", "b": ""})
	writeSnap(t, gone, map[string]string{"x": "", "new\nline": ""})
	writeSnap(t, emptied, map[string]string{"only": ""})

	// A header-only file (left by hand) is removed too.
	headerOnly := filepath.Join(dir, "h", DirName, "h.snap")
	if err := os.MkdirAll(filepath.Dir(headerOnly), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(headerOnly, []byte(suiteHeader), 0o644); err != nil {
		t.Fatal(err)
	}

	// Left alone: Go test snapshots, other tools' .snap files, vendored
	// and hidden directories, .snap files outside __snapshots__.
	goTest := filepath.Join(dir, DirName, "TestX.snap")
	gf, err := openGoTest(goTest)
	if err != nil {
		t.Fatal(err)
	}
	gf.Set("TestX/a", "1")
	if err := gf.Save(); err != nil {
		t.Fatal(err)
	}
	jest := filepath.Join(dir, "web", DirName, "App.test.js.snap")
	vendored := filepath.Join(dir, "vendor", "m", DirName, "v.snap")
	hidden := filepath.Join(dir, ".git", DirName, "h.snap")
	loose := filepath.Join(dir, "loose.snap")
	// Folders whose suites cleanroom never loads (as suite.Find).
	fixture := PathFor(filepath.Join(dir, "testdata", "fx.cleanroom.toml"), "fx")
	wip := PathFor(filepath.Join(dir, "_wip", "w.cleanroom.toml"), "w")
	for _, p := range []string{vendored, hidden, loose, fixture, wip} {
		writeSnap(t, p, map[string]string{"keep": ""})
	}
	if err := os.MkdirAll(filepath.Dir(jest), 0o755); err != nil {
		t.Fatal(err)
	}
	jestData := "// Jest Snapshot v1, https://goo.gl/fbAQLP\n\nexports[`App 1`] = `\"hi\"`;\n"
	if err := os.WriteFile(jest, []byte(jestData), 0o644); err != nil {
		t.Fatal(err)
	}

	rel := func(p string) string { r, _ := filepath.Rel(dir, p); return r }
	// The runner may hand over relative paths: the same files.
	t.Chdir(dir)
	removed, err := Prune(dir, map[string]map[string]bool{
		rel(users):     {"list": true, "not stored": true},
		orders:         {"a": true, "b": true},
		emptied:        {},
		"nowhere.snap": {"x": true},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		filepath.Join(dir, "__snapshots__", "users.snap") + ": also stale",
		filepath.Join(dir, "__snapshots__", "users.snap") + ": stale",
		headerOnly,
		gone + `: "new\nline"`,
		gone + ": x",
		emptied + ": only",
	}
	if !slices.Equal(removed, want) {
		t.Errorf("removed:\n%q\nwant:\n%q", removed, want)
	}

	f, err := Open(users)
	if err != nil {
		t.Fatal(err)
	}
	if names := f.Names(); !slices.Equal(names, []string{"list"}) {
		t.Errorf("users keeps %q", names)
	}
	if f, _ := Open(orders); len(f.Names()) != 2 {
		t.Errorf("orders keeps %q", f.Names())
	}
	for _, p := range []string{gone, emptied, headerOnly, filepath.Dir(emptied)} {
		if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	for _, p := range []string{goTest, vendored, hidden, loose, jest} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	if data, _ := os.ReadFile(jest); string(data) != jestData {
		t.Errorf("Jest's file changed")
	}

	// Nothing left to prune: nothing changes.
	again, err := Prune(dir, map[string]map[string]bool{users: {"list": true}, orders: {"a": true, "b": true}})
	if err != nil || len(again) != 0 {
		t.Errorf("second Prune: %q, %v", again, err)
	}
}

func TestPruneMalformed(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, DirName, "bad.snap")
	good := filepath.Join(dir, "a", DirName, "good.snap")
	writeSnap(t, good, map[string]string{"stale": ""})
	if err := os.MkdirAll(filepath.Dir(bad), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte(suiteHeader+"\n| stray\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	removed, err := Prune(dir, nil)
	var fe *FormatError
	if !errors.As(err, &fe) || fe.Path != bad {
		t.Errorf("err = %v, want a *FormatError for %s", err, bad)
	}
	if !slices.Equal(removed, []string{good + ": stale"}) {
		t.Errorf("removed %q: the other files are pruned all the same", removed)
	}
	if _, err := os.Stat(bad); err != nil {
		t.Errorf("the malformed file is kept: %v", err)
	}
}

func TestPruneMissingDir(t *testing.T) {
	_, err := Prune(filepath.Join(t.TempDir(), "none"), nil)
	if !errors.Is(err, os.ErrNotExist) {
		t.Errorf("err = %v", err)
	}
}

// A suite known by another path to the same file keeps its snapshots.
func TestPruneSymlink(t *testing.T) {
	real := t.TempDir()
	link := filepath.Join(t.TempDir(), "link")
	if err := os.Symlink(real, link); err != nil {
		t.Skip(err)
	}
	path := PathFor(filepath.Join(real, "s.cleanroom.toml"), "s")
	writeSnap(t, path, map[string]string{"keep": "", "drop": ""})
	removed, err := Prune(link, map[string]map[string]bool{path: {"keep": true}})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(link, DirName, "s.snap") + ": drop"; !slices.Equal(removed, []string{want}) {
		t.Errorf("removed %q, want %q", removed, want)
	}
}
