package cleanroom

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/postgres"
)

// On a backend without images a kind runs its Host form: a program that is
// not installed is an error saying what to install, a program found only
// in the kind's own directories goes first on the service's PATH, and a
// generic service's image is not used.
func TestForHost(t *testing.T) {
	missing := service.Spec{Name: "db", Kind: "postgres", Image: "postgres:16",
		Host: &service.Host{Require: []service.Program{{Name: "cleanroom-no-such-server", Install: "Debian's nothing (apt-get install nothing)"}}}}
	_, _, err := forHost(missing)
	if err == nil || !strings.Contains(err.Error(), `"cleanroom-no-such-server" was not found`) || !strings.Contains(err.Error(), "install Debian's nothing (apt-get install nothing)") {
		t.Errorf("forHost with a missing program: got %v, want it named with what to install", err)
	}

	// A program in a directory of its own (as /usr/lib/postgresql/NN/bin);
	// not under /tmp, which sandboxes see empty.
	dir, err := os.MkdirTemp(".", ".forhost-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	abs, _ := filepath.Abs(dir)
	bin := filepath.Join(abs, "v9", "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(bin, "cleanroom-fake-server"), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	sp := service.Spec{Name: "db", Kind: "fake", Image: "fake:1", Env: map[string]string{"A": "1"},
		Host: &service.Host{Require: []service.Program{{Name: "cleanroom-fake-server", Dirs: []string{filepath.Join(abs, "*", "bin")}}},
			Entrypoint: []string{"/entry.sh"}, Env: map[string]string{"B": "2"}, Tmpfs: map[string]string{"/run/x": "rw"}}}
	got, shown, err := forHost(sp)
	if err != nil {
		t.Fatal(err)
	}
	if got.Image != "" || got.Entrypoint[0] != "/entry.sh" || got.Env["A"] != "1" || got.Env["B"] != "2" || got.Tmpfs["/run/x"] != "rw" {
		t.Errorf("host form: got %+v", got)
	}
	if !strings.HasPrefix(got.Env["PATH"], bin+":") {
		t.Errorf("PATH %q: want %s first", got.Env["PATH"], bin)
	}
	if shown != "host:"+filepath.Join(bin, "cleanroom-fake-server") {
		t.Errorf("shown as %q, want the program's path", shown)
	}
	if sp.Env["B"] != "" {
		t.Errorf("forHost changed the spec it was given: env %v", sp.Env)
	}

	generic := service.Spec{Name: "web", Kind: "generic", Image: "busybox:1", Command: []string{"busybox", "httpd"}}
	if got, shown, err := forHost(generic); err != nil || got.Image != "" || shown != "host:busybox" {
		t.Errorf("generic with a command: got image %q, shown %q, err %v; want its command, no image", got.Image, shown, err)
	}
	if _, _, err := forHost(service.Spec{Name: "web", Kind: "generic", Image: "busybox:1"}); err == nil || !strings.Contains(err.Error(), "needs the Docker backend") {
		t.Errorf("generic without a command: got %v, want it to need Docker", err)
	}
	if _, _, err := forHost(service.Spec{Name: "web", Kind: "generic", Build: &service.Build{Context: "."}}); err == nil {
		t.Errorf("a build: got no error, want it to need Docker")
	}
	if got := naturalCompare("/usr/lib/postgresql/15/bin", "/usr/lib/postgresql/9/bin"); got <= 0 {
		t.Errorf("naturalCompare(15, 9) = %d, want 15 after 9", got)
	}
	// The real kind's form names the Debian package.
	pg := postgres.Spec("db").Host
	if pg == nil || !strings.Contains(pg.Require[0].Install, "apt-get install postgresql") {
		t.Errorf("postgres host form: %+v", pg)
	}
}
