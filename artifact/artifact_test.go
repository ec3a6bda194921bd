package artifact_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/artifact"
)

func TestWriteRedactsAndIndexes(t *testing.T) {
	root := filepath.Join(t.TempDir(), "run")
	d, err := artifact.New(root, artifact.WithRedact(func(s string) string { return strings.ReplaceAll(s, "hunter2", "[REDACTED]") }))
	if err != nil {
		t.Fatal(err)
	}
	rel, err := d.Write("users/create/01-insert.txt", []byte("password hunter2\n"), artifact.Entry{Kind: "step-output", Suite: "users", Step: "insert"})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(root, "users", "create", "01-insert.txt"))
	if err != nil || string(b) != "password [REDACTED]\n" || rel != "users/create/01-insert.txt" {
		t.Fatalf("written %q (%v) at %q, want the redacted text", b, err, rel)
	}
	if err := os.WriteFile(d.Path("report.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := d.Add("report.json", artifact.Entry{Kind: "report"}); err != nil {
		t.Fatal(err)
	}
	if err := d.WriteIndex(); err != nil {
		t.Fatal(err)
	}
	var idx struct{ Artifacts []artifact.Entry }
	b, _ = os.ReadFile(filepath.Join(root, artifact.IndexName))
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	paths := []string{}
	for _, e := range idx.Artifacts {
		paths = append(paths, e.Path)
		if e.Bytes == 0 || len(e.SHA256) != 64 {
			t.Errorf("entry %+v: want its size and digest", e)
		}
	}
	if !slices.Equal(paths, []string{"report.json", "users/create/01-insert.txt"}) {
		t.Errorf("index lists %q", paths)
	}
	if idx.Artifacts[1].Kind != "step-output" || idx.Artifacts[1].Step != "insert" {
		t.Errorf("entry %+v: want its kind and labels", idx.Artifacts[1])
	}
}

func TestDefaultFolder(t *testing.T) {
	t.Chdir(t.TempDir())
	d, err := artifact.New("")
	if err != nil {
		t.Fatal(err)
	}
	if dir, name := filepath.Split(d.Root()); filepath.Clean(dir) != filepath.FromSlash(artifact.RunsDir) || len(name) != len("20261126T101531Z-3fa2b9c1") {
		t.Errorf("default folder %q, want %s/<time>-<id>", d.Root(), artifact.RunsDir)
	}
}

func TestName(t *testing.T) {
	for in, want := range map[string]string{
		"create a user":          "create_a_user",
		"../../etc/passwd":       "_.._etc_passwd",
		"":                       "_",
		"ok-1.2_x":               "ok-1.2_x",
		strings.Repeat("a", 100): strings.Repeat("a", 64),
	} {
		if got := artifact.Name(in); got != want {
			t.Errorf("Name(%q) = %q, want %q", in, got, want)
		}
		if strings.Contains(artifact.Name(in), "/") {
			t.Errorf("Name(%q) has a slash", in)
		}
	}
}

func TestPrune(t *testing.T) {
	runs := t.TempDir()
	for _, n := range []string{"20261101T000000Z-a", "20261102T000000Z-b", "20261103T000000Z-c", "not-a-run"} {
		if err := os.MkdirAll(filepath.Join(runs, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if n != "not-a-run" {
			if err := os.WriteFile(filepath.Join(runs, n, artifact.IndexName), []byte("{}"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	removed, err := artifact.Prune(runs, 1)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{filepath.Join(runs, "20261101T000000Z-a"), filepath.Join(runs, "20261102T000000Z-b")}
	if !slices.Equal(removed, want) {
		t.Errorf("removed %q, want the two oldest %q", removed, want)
	}
	left, _ := os.ReadDir(runs)
	if len(left) != 2 {
		t.Errorf("%d folders left, want the newest run and the folder that is not a run", len(left))
	}
	if removed, err := artifact.Prune(filepath.Join(runs, "none"), 1); err != nil || len(removed) != 0 {
		t.Errorf("a missing folder: %q, %v", removed, err)
	}
}
