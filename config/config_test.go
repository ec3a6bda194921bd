package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

func TestMapImage(t *testing.T) {
	images := map[string]string{
		"postgres:16":                       "cleanroom-fixtures/postgres:15", // exact
		"redis":                             "mirror.local/redis",             // untagged key, untagged replacement
		"busybox":                           "cleanroom-fixtures/busybox:1",   // untagged key, tagged replacement
		"alpine:latest":                     "mirror.local/alpine:3.20",       // :latest key
		"registry.local:5000/team/app":      "mirror.local:6000/app",          // registry with a port
		"registry.local:5000/team/tool:1.0": "mirror.local:6000/tool:1.0",
		"nginx@sha256:0123456789abcdef":     "mirror.local/nginx@sha256:0123456789abcdef",
		"mysql":                             "mirror.local/mysql@sha256:fedcba9876543210",
	}
	tests := []struct{ ref, want string }{
		{"postgres:16", "cleanroom-fixtures/postgres:15"},
		{"postgres:15", "postgres:15"}, // exact keys match their tag only
		{"postgres", "postgres"},
		{"redis:7", "mirror.local/redis:7"}, // the tag is kept
		{"redis:7.2-alpine", "mirror.local/redis:7.2-alpine"},
		{"redis", "mirror.local/redis"},
		{"busybox:1.36", "cleanroom-fixtures/busybox:1"}, // the replacement's tag wins
		{"busybox:latest", "cleanroom-fixtures/busybox:1"},
		{"busybox", "cleanroom-fixtures/busybox:1"},
		{"alpine", "mirror.local/alpine:3.20"}, // an untagged ref is its :latest
		{"alpine:latest", "mirror.local/alpine:3.20"},
		{"alpine:3.19", "alpine:3.19"},
		{"registry.local:5000/team/app", "mirror.local:6000/app"}, // the port is not a tag
		{"registry.local:5000/team/app:2", "mirror.local:6000/app:2"},
		{"registry.local:5000/team/tool", "registry.local:5000/team/tool"},
		{"registry.local:5000/team/tool:1.0", "mirror.local:6000/tool:1.0"},
		{"registry.local/team/app:2", "registry.local/team/app:2"}, // another registry
		{"nginx@sha256:0123456789abcdef", "mirror.local/nginx@sha256:0123456789abcdef"},
		{"mysql:8", "mirror.local/mysql@sha256:fedcba9876543210"}, // a digest replacement gets no tag
		// A pinned digest is rewritten only by an exact key: an untagged key
		// says which tags to replace, and a digest is not a tag.
		{"redis@sha256:0123456789abcdef", "redis@sha256:0123456789abcdef"},
		{"unknown:1", "unknown:1"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := MapImage(images, tt.ref); got != tt.want {
			t.Errorf("MapImage(%q): want %q, got %q", tt.ref, tt.want, got)
		}
	}
	if got := MapImage(nil, "postgres:16"); got != "postgres:16" {
		t.Errorf("MapImage(nil map): want the reference unchanged, got %q", got)
	}
}

func TestParseImageMap(t *testing.T) {
	tests := []struct {
		in      string
		want    map[string]string
		wantErr string
	}{
		{in: "", want: map[string]string{}},
		{in: "postgres:16=pg:15", want: map[string]string{"postgres:16": "pg:15"}},
		{in: " a = b , c=d:1,", want: map[string]string{"a": "b", "c": "d:1"}},
		{in: "host:5000/x=mirror:6000/x", want: map[string]string{"host:5000/x": "mirror:6000/x"}},
		{in: "a=b,a=c", want: map[string]string{"a": "c"}}, // the last one wins
		{in: "postgres", wantErr: `image map entry "postgres": want from=to`},
		{in: "=pg:15", wantErr: `image map entry "=pg:15": want from=to`},
		{in: "postgres=", wantErr: `image map entry "postgres=": want from=to`},
		{in: "a=b,c", wantErr: `image map entry "c"`},
	}
	for _, tt := range tests {
		got, err := ParseImageMap(tt.in)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseImageMap(%q): want error containing %q, got %v (map %v)", tt.in, tt.wantErr, err, got)
			}
			continue
		}
		if err != nil {
			t.Errorf("ParseImageMap(%q): want %v, got error %v", tt.in, tt.want, err)
			continue
		}
		if !equalMaps(got, tt.want) {
			t.Errorf("ParseImageMap(%q): want %v, got %v", tt.in, tt.want, got)
		}
	}
}

func TestParsePull(t *testing.T) {
	for in, want := range map[string]backend.PullPolicy{
		"missing": backend.PullMissing, "never": backend.PullNever, "always": backend.PullAlways, " NEVER ": backend.PullNever,
	} {
		if got, err := ParsePull(in); err != nil || got != want {
			t.Errorf("ParsePull(%q): want %q, got %q (err %v)", in, want, got, err)
		}
	}
	for _, in := range []string{"", "sometimes", "if-not-present"} {
		if got, err := ParsePull(in); err == nil {
			t.Errorf("ParsePull(%q): want an error, got %q", in, got)
		}
	}
}

// isolate clears the variables Load reads, so the user's environment does
// not leak into a test.
func isolate(t *testing.T) {
	t.Setenv(EnvConfig, "")
	t.Setenv(EnvImageMap, "")
	t.Setenv(EnvPull, "")
}

func writeFile(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const validProject = `# a project file
[images]
"postgres:16" = "cleanroom-fixtures/postgres:15"
"redis:7" = "cleanroom-fixtures/redis:7"

[docker]
pull = "never"

[report]
dir = "out"

[policy]
preset = "strict"
`

func TestLoadFindsTheFileUpwards(t *testing.T) {
	isolate(t)
	root := t.TempDir()
	path := writeFile(t, filepath.Join(root, FileName), validProject)
	sub := filepath.Join(root, "a", "b")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Load(sub)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Path != path {
		t.Errorf("Path: want %q, got %q", path, p.Path)
	}
	want := map[string]string{"postgres:16": "cleanroom-fixtures/postgres:15", "redis:7": "cleanroom-fixtures/redis:7"}
	if !equalMaps(p.Images, want) {
		t.Errorf("Images: want %v, got %v", want, p.Images)
	}
	if p.Pull != backend.PullNever {
		t.Errorf("Pull: want %q, got %q", backend.PullNever, p.Pull)
	}
}

func TestLoadWithoutFile(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	if find(dir) != "" {
		t.Skipf("a %s above %s is in the way", FileName, dir)
	}
	p, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Path != "" || len(p.Images) != 0 || p.Pull != backend.PullMissing {
		t.Errorf("Load with no file: want no path, no images and pull %q, got %+v", backend.PullMissing, p)
	}
}

func TestLoadEnvironmentOverridesFile(t *testing.T) {
	isolate(t)
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, FileName), validProject)
	t.Setenv(EnvImageMap, "postgres:16=mirror.local/postgres:16, busybox=cleanroom-fixtures/busybox:1")
	t.Setenv(EnvPull, "always")
	p, err := Load(dir)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	want := map[string]string{
		"postgres:16": "mirror.local/postgres:16",   // the environment wins
		"redis:7":     "cleanroom-fixtures/redis:7", // the file's other keys stay
		"busybox":     "cleanroom-fixtures/busybox:1",
	}
	if !equalMaps(p.Images, want) {
		t.Errorf("Images: want %v, got %v", want, p.Images)
	}
	if p.Pull != backend.PullAlways {
		t.Errorf("Pull: want %q from %s, got %q", backend.PullAlways, EnvPull, p.Pull)
	}
}

func TestLoadExplicitConfigPath(t *testing.T) {
	isolate(t)
	path := writeFile(t, filepath.Join(t.TempDir(), "elsewhere", "settings.toml"), "[images]\n\"x\" = \"y\"\n")
	t.Setenv(EnvConfig, path)
	p, err := Load(t.TempDir())
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if p.Path != path || p.Images["x"] != "y" {
		t.Errorf("Load with %s=%s: want that file's images, got %+v", EnvConfig, path, p)
	}

	t.Setenv(EnvConfig, filepath.Join(t.TempDir(), "missing.toml"))
	if _, err := Load(t.TempDir()); err == nil || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Load with %s naming a missing file: want a not-exist error, got %v", EnvConfig, err)
	}
}

func TestLoadErrorsArePositioned(t *testing.T) {
	tests := []struct {
		name, content string
		envMap, pull  string
		wantPos       string // "FILE" is replaced by the file's path
		wantMsg       string
	}{
		{
			name:    "unknown section",
			content: "[images]\n\"a\" = \"b\"\n\n[dockr]\npull = \"never\"\n",
			wantPos: "FILE:4:2", wantMsg: `unknown key "dockr"`,
		},
		{
			name:    "unknown key in a known section",
			content: "[docker]\n  pul = \"never\"\n",
			wantPos: "FILE:2:3", wantMsg: `unknown key "docker.pul"`,
		},
		{
			name:    "syntax error",
			content: "[images]\n\"a\" = \n",
			wantPos: "FILE:2:", wantMsg: "",
		},
		{
			name:    "wrong type",
			content: "[images]\n\"a\" = 3\n",
			wantPos: "FILE:2:", wantMsg: "",
		},
		{
			name:    "bad pull policy",
			content: "[docker]\npull = \"sometimes\"\n",
			wantPos: "FILE:2:8", wantMsg: `docker.pull: pull policy "sometimes"`,
		},
		{
			name:    "bad image map variable",
			content: validProject, envMap: "postgres",
			wantPos: "$CLEANROOM_IMAGE_MAP", wantMsg: `image map entry "postgres": want from=to`,
		},
		{
			name:    "bad pull variable",
			content: validProject, pull: "often",
			wantPos: "$CLEANROOM_PULL", wantMsg: `pull policy "often"`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			isolate(t)
			t.Setenv(EnvImageMap, tt.envMap)
			t.Setenv(EnvPull, tt.pull)
			dir := t.TempDir()
			path := writeFile(t, filepath.Join(dir, FileName), tt.content)
			_, err := Load(dir)
			var ve *errs.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("Load: want a *errs.ValidationError, got %T: %v", err, err)
			}
			wantPos := strings.Replace(tt.wantPos, "FILE", path, 1)
			if strings.HasSuffix(wantPos, ":") {
				if !strings.HasPrefix(ve.Pos, wantPos) {
					t.Errorf("Pos: want %q followed by a column, got %q", wantPos, ve.Pos)
				}
			} else if ve.Pos != wantPos {
				t.Errorf("Pos: want %q, got %q", wantPos, ve.Pos)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("message: want it to contain %q, got %q", tt.wantMsg, err.Error())
			}
			t.Logf("%v", err)
		})
	}
}

func equalMaps(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}
