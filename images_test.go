package cleanroom_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/config"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

const busyboxFixture = "cleanroom-fixtures/busybox:1"

// Image mapping on the engine: the project file, CLEANROOM_IMAGE_MAP over
// it, WithImageMap over both; with pull "never" an image the engine lacks is
// a *ResourceError that says how to map it.
func TestImageMappingOnTheEngine(t *testing.T) {
	dir := t.TempDir()
	project := `[images]
"busybox:latest" = "` + busyboxFixture + `"
"postgres:16" = "cleanroom-fixtures/postgres:15"

[docker]
pull = "never"
`
	if err := os.WriteFile(filepath.Join(dir, config.FileName), []byte(project), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvConfig, "")
	t.Setenv(config.EnvPull, "")
	const absentEnv = "cleanroom-fixtures/absent-from-env:1"

	tests := []struct {
		name       string
		image      string
		envMap     string
		opts       []cleanroom.Option
		wantImage  string // the image the container runs
		wantAbsent string // or: the image named in the *ResourceError
	}{
		{name: "project file", image: "busybox:latest", wantImage: busyboxFixture},
		{name: "official postgres name runs the fixture", image: "postgres:16", wantImage: "cleanroom-fixtures/postgres:15"},
		{name: "unmapped image with pull never", image: "cleanroom-fixtures/never-built:1", wantAbsent: "cleanroom-fixtures/never-built:1"},
		{name: "environment overrides the file", image: "busybox:latest", envMap: "busybox:latest=" + absentEnv, wantAbsent: absentEnv},
		{
			name: "WithImageMap overrides file and environment", image: "busybox:latest", envMap: "busybox:latest=" + absentEnv,
			opts:      []cleanroom.Option{cleanroom.WithImageMap(map[string]string{"busybox:latest": busyboxFixture})},
			wantImage: busyboxFixture,
		},
		{
			name: "WithPullPolicy never without project config", image: "cleanroom-fixtures/never-built:1",
			opts:       []cleanroom.Option{cleanroom.WithPullPolicy(backend.PullNever), cleanroom.WithoutProjectConfig()},
			wantAbsent: "cleanroom-fixtures/never-built:1",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(config.EnvImageMap, tt.envMap)
			env := newEnv(t, append([]cleanroom.Option{cleanroom.WithProjectDir(dir)}, tt.opts...)...)
			insts, err := env.Start(t.Context(), generic.Spec("svc", tt.image, generic.WithEntrypoint("sleep"), generic.WithCommand("3600")))
			if tt.wantAbsent != "" {
				var re *cleanroom.ResourceError
				if !errors.As(err, &re) {
					t.Fatalf("Start %s: want a *ResourceError for absent image %s, got %T: %v", tt.image, tt.wantAbsent, err, err)
				}
				if re.Resource != "image" || re.Target != tt.wantAbsent {
					t.Errorf("ResourceError: want image %s, got %s %s", tt.wantAbsent, re.Resource, re.Target)
				}
				for _, want := range []string{tt.wantAbsent, `pull policy is "never"`, "CLEANROOM_IMAGE_MAP", "[images]"} {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error: want it to mention %q, got %v", want, err)
					}
				}
				if ids := serviceContainers(t, engine(t), env.ID(), "svc"); len(ids) != 0 {
					t.Errorf("want no container for an absent image, got %v", ids)
				}
				return
			}
			if err != nil {
				t.Fatalf("Start %s: %v", tt.image, err)
			}
			c, ok := inspect(t, engine(t), insts[0].Container.ID())
			if !ok {
				t.Fatal("container not found on the engine")
			}
			if c.Config.Image != tt.wantImage {
				t.Errorf("container of %s: want image %s, got %s", tt.image, tt.wantImage, c.Config.Image)
			}
		})
	}
}

// A broken project file stops New before it touches the engine, with the
// position of the problem.
func TestNewRejectsInvalidProjectFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, config.FileName)
	if err := os.WriteFile(path, []byte("[images]\n\"a\" = \"b\"\n\n[docker]\npul = \"never\"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv(config.EnvConfig, "")
	_, err := cleanroom.New(t.Context(), cleanroom.WithProjectDir(dir), cleanroom.WithBackend(&recordingBackend{}))
	var ve *cleanroom.ValidationError
	if !errors.As(err, &ve) {
		t.Fatalf("New: want a *ValidationError, got %T: %v", err, err)
	}
	if want := path + ":5:1"; ve.Pos != want {
		t.Errorf("ValidationError.Pos: want %q, got %q (%v)", want, ve.Pos, err)
	}
}
