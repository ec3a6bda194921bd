package config

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/pick"
)

// cleanEnv clears every variable Load reads, so that the caller's
// environment does not leak into a test.
func cleanEnv(t *testing.T) {
	t.Helper()
	for _, v := range []string{EnvImageMap, EnvPull, EnvConfig, EnvBackend} {
		t.Setenv(v, "")
	}
}

// projectFile writes a cleanroom.toml with content and points
// CLEANROOM_CONFIG at it.
func projectFile(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvConfig, path)
	return path
}

func TestBackendSetting(t *testing.T) {
	tests := []struct {
		name string
		file string // cleanroom.toml; "" for none
		env  string // CLEANROOM_BACKEND
		want string
	}{
		{name: "nothing says: auto", want: ""},
		{name: "file without the key", file: "[docker]\npull = \"never\"\n", want: ""},
		{name: "file docker", file: `backend = "docker"`, want: "docker"},
		{name: "file local", file: `backend = "local"`, want: "local"},
		{name: "file auto", file: `backend = "auto"`, want: "auto"},
		{name: "file empty string is no setting", file: `backend = ""`, want: ""},
		{name: "env local", env: "local", want: "local"},
		{name: "env docker", env: "docker", want: "docker"},
		{name: "env auto", env: "auto", want: "auto"},
		{name: "env over file", file: `backend = "local"`, env: "docker", want: "docker"},
		{name: "env auto over file", file: `backend = "docker"`, env: "auto", want: "auto"},
		{name: "next to other sections", file: "backend = \"local\"\n[images]\n\"postgres:16\" = \"pg:15\"\n[policy]\npids = 100\n", want: "local"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			var path string
			if tt.file != "" {
				path = projectFile(t, tt.file)
			}
			t.Setenv(EnvBackend, tt.env)
			// A directory without a cleanroom.toml above it, in case
			// CLEANROOM_CONFIG is empty.
			p, err := Load(t.TempDir())
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if p.Backend != tt.want {
				t.Errorf("Backend: want %q, got %q", tt.want, p.Backend)
			}
			if p.Path != path {
				t.Errorf("Path: want %q, got %q", path, p.Path)
			}
		})
	}
}

// The file found from the working directory upwards sets the backend too.
func TestBackendSettingFound(t *testing.T) {
	cleanEnv(t)
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, FileName), []byte(`backend = "local"`), 0o644); err != nil {
		t.Fatal(err)
	}
	sub := filepath.Join(root, "suites", "deep")
	if err := os.MkdirAll(sub, 0o755); err != nil {
		t.Fatal(err)
	}
	p, err := Load(sub)
	if err != nil {
		t.Fatal(err)
	}
	if p.Backend != "local" || p.Path != filepath.Join(root, FileName) {
		t.Errorf("want local from %s, got %q from %q", filepath.Join(root, FileName), p.Backend, p.Path)
	}
}

func TestBackendSettingErrors(t *testing.T) {
	const names = "(want one of docker, local, auto)"
	tests := []struct {
		name string
		file string
		env  string
		// want is the whole error, with FILE for the file's path; for
		// TOML's own errors, whose wording is go-toml's, the position and
		// a word of the message.
		want, contains string
	}{
		{name: "unknown name in the file", file: "# project\nbackend = \"bogus\"\n",
			want: `FILE:2:11: backend: unknown backend "bogus" ` + names},
		{name: "names are lower case", file: `backend = "Docker"`,
			want: `FILE:1:11: backend: unknown backend "Docker" ` + names},
		{name: "unknown name in the environment", env: "podman",
			want: `$CLEANROOM_BACKEND: unknown backend "podman" ` + names},
		// The environment overrides the file, but a bad file is still an
		// error: it is read first.
		{name: "bad file under a good environment", file: `backend = "bogus"`, env: "local",
			want: `FILE:1:11: backend: unknown backend "bogus" ` + names},
		{name: "good file under a bad environment", file: `backend = "local"`, env: "bogus",
			want: `$CLEANROOM_BACKEND: unknown backend "bogus" ` + names},
		{name: "not a string", file: "\nbackend = 1\n", want: "FILE:2:11: ", contains: "integer"},
		{name: "misspelt key", file: "\n\nbackends = \"local\"\n",
			want: `FILE:3:1: unknown key "backends" (known keys: backend; sections: images, docker, report, policy)`},
		{name: "a table, not a key", file: "[backend]\nname = \"local\"\n", want: "FILE:1:2: ", contains: "table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cleanEnv(t)
			path := ""
			if tt.file != "" {
				path = projectFile(t, tt.file)
			}
			t.Setenv(EnvBackend, tt.env)
			p, err := Load(t.TempDir())
			if err == nil {
				t.Fatalf("want an error, got a project with backend %q", p.Backend)
			}
			var ve *errs.ValidationError
			if !errors.As(err, &ve) {
				t.Fatalf("want a *errs.ValidationError, got %T: %v", err, err)
			}
			want := strings.ReplaceAll(tt.want, "FILE", path)
			switch {
			case tt.contains == "" && err.Error() != want:
				t.Errorf("error:\nwant %s\ngot  %s", want, err)
			case tt.contains != "" && (!strings.HasPrefix(err.Error(), want) || !strings.Contains(err.Error(), tt.contains)):
				t.Errorf("error:\nwant %s…%s…\ngot  %s", want, tt.contains, err)
			}
		})
	}
}

// The names config accepts are the names the backend picker accepts: a
// project file cannot name a backend that --backend refuses, or the other
// way round.
func TestBackendNamesAgree(t *testing.T) {
	if !slices.Equal(slices.Sorted(slices.Values(Backends)), slices.Sorted(slices.Values(pick.Names))) {
		t.Errorf("config.Backends %v, pick.Names %v", Backends, pick.Names)
	}
	for _, name := range append(slices.Clone(Backends), "", "bogus", "Local", " local") {
		cfgErr := name != "" && checkBackend(name) != nil
		pickErr := pick.Check(name) != nil
		if cfgErr != pickErr {
			t.Errorf("%q: config says error=%v, pick says error=%v", name, cfgErr, pickErr)
		}
	}
}
