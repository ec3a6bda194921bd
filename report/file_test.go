package report

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	for _, tt := range []struct {
		format string
		write  func(*bytes.Buffer, *Run) error
	}{
		{FormatJSON, func(b *bytes.Buffer, r *Run) error { return WriteJSON(b, r) }},
		{FormatJUnit, func(b *bytes.Buffer, r *Run) error { return WriteJUnit(b, r) }},
	} {
		t.Run(tt.format, func(t *testing.T) {
			path := filepath.Join(dir, "reports", "nested", "run."+tt.format)
			// A previous report is replaced, not appended to.
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, []byte(strings.Repeat("old ", 100000)), 0o600); err != nil {
				t.Fatal(err)
			}
			if err := WriteFile(path, tt.format, testRun()); err != nil {
				t.Fatal(err)
			}
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var want bytes.Buffer
			if err := tt.write(&want, testRun()); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want.Bytes()) {
				t.Errorf("file differs from what Write%s writes", tt.format)
			}
			fi, err := os.Stat(path)
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != 0o644 {
				t.Errorf("mode %v, want 0644", fi.Mode().Perm())
			}
			assertNoTemp(t, filepath.Dir(path))
		})
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	if err := WriteFile(filepath.Join(dir, "r.yaml"), "yaml", testRun()); err == nil || !strings.Contains(err.Error(), `unknown format "yaml"`) {
		t.Errorf("unknown format: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "r.yaml")); !os.IsNotExist(err) {
		t.Errorf("a file was made for an unknown format")
	}
	if err := WriteFile(filepath.Join(dir, "r.json"), FormatJSON, nil); err == nil {
		t.Errorf("nil run: no error")
	}

	// The target is a directory: the rename fails, and the temporary file
	// must not stay behind.
	target := filepath.Join(dir, "taken")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(target, "keep"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(target, FormatJUnit, testRun()); err == nil {
		t.Errorf("writing over a directory: no error")
	}
	assertNoTemp(t, dir)

	// A parent that is a file cannot be created.
	file := filepath.Join(dir, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := WriteFile(filepath.Join(file, "r.json"), FormatJSON, testRun()); err == nil {
		t.Errorf("parent is a file: no error")
	}
}

func assertNoTemp(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file left behind: %s", e.Name())
		}
	}
}
