package cleanroom_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom"
	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/internal/owner"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
)

// logLines collects what an environment logs.
type logLines struct {
	mu  sync.Mutex
	all []string
}

func (l *logLines) logf(format string, args ...any) {
	l.mu.Lock()
	l.all = append(l.all, fmt.Sprintf(format, args...))
	l.mu.Unlock()
}

func (l *logLines) count(substr string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.all {
		if strings.Contains(line, substr) {
			n++
		}
	}
	return n
}

// imageOnEngine asks the engine directly whether ref exists.
func imageOnEngine(t testing.TB, cli *client.Client, ref string) bool {
	t.Helper()
	_, err := cli.ImageInspect(context.Background(), ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return err == nil
}

// builtWeb is a web server built from testdata/build.
func builtWeb(name string, b service.Build) service.Spec {
	return generic.Spec(name, "", generic.WithBuild(b), generic.WithPorts(8080),
		generic.WithReady(ready.HTTP(8080, "/", 200, ready.WithTimeout(30*time.Second))))
}

func httpGet(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: status %d, want 200; body %q", url, resp.StatusCode, body)
	}
	return string(body)
}

// A service built from a Dockerfile starts and answers like any other; two
// services with the same build share one image, built once; Close removes it.
func TestBuiltServiceIsReachableAndRemovedAtClose(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	var logs logLines
	env, err := cleanroom.New(t.Context(), cleanroom.WithLogf(logs.logf))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	closed := false
	t.Cleanup(func() {
		if !closed {
			_ = env.Close(context.Background())
		}
	})

	b := service.Build{Context: "testdata/build", Args: map[string]string{"GREETING": "bonjour"}}
	insts, err := env.Start(t.Context(), builtWeb("web", b), builtWeb("web2", b))
	if err != nil {
		t.Fatalf("Start of built services: %v", err)
	}
	web, web2 := insts[0], insts[1]
	// Named after the first of the two by name, whichever starts first.
	if want := "cleanroom-build/web:" + env.ID()[len(env.ID())-12:]; web.Image != want {
		t.Errorf("image of web: got %q, want %q", web.Image, want)
	}
	if web.Image != web2.Image {
		t.Errorf("two services with one build: images %q and %q, want one image", web.Image, web2.Image)
	}
	if n := logs.count("Step 1/"); n != 1 {
		t.Errorf("build output in the log: got %d builds, want 1", n)
	}
	if n := logs.count(" built in "); n != 1 {
		t.Errorf(`"built in" lines in the log: got %d, want 1`, n)
	}

	if got := httpGet(t, web.URL+"/index.html"); got != "<h1>built by cleanroom</h1>\n" {
		t.Errorf("page of the built service: got %q (the COPY of the context)", got)
	}
	if got := httpGet(t, web2.URL+"/greeting.txt"); got != "bonjour\n" {
		t.Errorf("greeting.txt of the built service: got %q, want %q (the build arg)", got, "bonjour\n")
	}

	// A per-scenario restart (release, start again) does not build again.
	if err := env.Release(t.Context(), "web"); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := env.Start(t.Context(), builtWeb("web", b)); err != nil {
		t.Fatalf("Start again: %v", err)
	}
	if n := logs.count("Step 1/"); n != 1 {
		t.Errorf("after a restart: got %d builds, want still 1", n)
	}

	if !imageOnEngine(t, cli, web.Image) {
		t.Fatalf("image %s before Close: missing", web.Image)
	}
	if err := env.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	closed = true
	if imageOnEngine(t, cli, web.Image) {
		t.Errorf("image %s after Close: still there, want it removed", web.Image)
	}
	assertSessionGone(t, cli, env.ID())
}

func TestBuiltImageKeptWithKeep(t *testing.T) {
	t.Parallel()
	cli := engine(t)
	env, err := cleanroom.New(t.Context())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { _ = env.Close(context.Background()) })

	image, err := env.Build(t.Context(), "kept", service.Build{Context: "testdata/build", Keep: true,
		Args: map[string]string{"GREETING": "kept " + env.ID()}})
	if err != nil {
		t.Fatalf("Build with Keep: %v", err)
	}
	t.Cleanup(func() {
		if _, err := cli.ImageRemove(context.Background(), image, client.ImageRemoveOptions{PruneChildren: true}); err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("removing the kept image %s: %v", image, err)
		}
	})
	// Env.Run takes the built image like a service does.
	res, err := env.Run(t.Context(), backend.ContainerSpec{Image: image, Cmd: []string{"cat", "/www/greeting.txt"}}, time.Minute)
	if err != nil || string(res.Stdout) != "kept "+env.ID()+"\n" {
		t.Errorf("Run of the built image: got %q, %v; want the build arg", res.Stdout, err)
	}
	if err := env.Close(t.Context()); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if !imageOnEngine(t, cli, image) {
		t.Errorf("image %s built with Keep, after Close: gone, want it kept", image)
	}
}

func TestFailedBuildIsBackendErrorWithItsOutput(t *testing.T) {
	t.Parallel()
	env := newEnv(t)
	b := service.Build{Context: "testdata/build", Dockerfile: "broken.Dockerfile"}
	_, err := env.Start(t.Context(), builtWeb("broken", b), builtWeb("broken2", b))
	var be *cleanroom.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("Start of a service whose build fails: got %v (%T), want a *BackendError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"build broken:", `RUN echo "about to fail on purpose" && false`, "\n  about to fail on purpose", "returned a non-zero code: 1",
		"service broken2: not started because the build of its image (shared with service broken) failed"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error: want it to contain %q; got:\n%s", want, msg)
		}
	}
	if n := strings.Count(msg, "lines of the build output"); n != 1 {
		t.Errorf("error: got the build output %d times, want once; got:\n%s", n, msg)
	}
	if _, ok := env.Service("broken"); ok {
		t.Errorf("Service(broken) after a failed build: found, want none")
	}
}

// The image built by a process that was killed goes with the next sweep.
func TestSweepRemovesImageOfKilledProcess(t *testing.T) {
	if os.Getenv(buildHelperEnv) != "" {
		buildHelper(t)
		return
	}
	t.Parallel()
	cli := engine(t)
	cmd := exec.Command(os.Args[0], "-test.run=^TestSweepRemovesImageOfKilledProcess$", "-test.count=1", "-test.timeout=3m")
	cmd.Env = append(os.Environ(), buildHelperEnv+"=1")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waited := false
	t.Cleanup(func() {
		if !waited {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	var image string
	sc := bufio.NewScanner(stdout)
	for image == "" && sc.Scan() {
		image, _ = strings.CutPrefix(sc.Text(), "IMAGE=")
	}
	if image == "" {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		waited = true
		t.Fatalf("helper process printed no image; stderr:\n%s", stderr.String())
	}
	if !imageOnEngine(t, cli, image) {
		t.Fatalf("image %s of the helper: missing before the kill", image)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	waited = true

	d, err := docker.New(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = d.Close() })
	rep, err := d.Sweep(t.Context(), owner.Alive)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	t.Logf("sweep removed %d image(s) of %d dead session(s)", len(rep.Images), len(rep.Sessions))
	if imageOnEngine(t, cli, image) {
		t.Errorf("image %s of a killed process after a sweep: still there, want it removed", image)
	}
}

const buildHelperEnv = "CLEANROOM_TEST_BUILD_HELPER"

// buildHelper is the process TestSweepRemovesImageOfKilledProcess kills: it
// builds, says what, and waits for the end.
func buildHelper(t *testing.T) {
	env, err := cleanroom.New(context.Background())
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	image, err := env.Build(context.Background(), "victim", service.Build{Context: "testdata/build",
		Args: map[string]string{"GREETING": "victim " + env.ID()}})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	fmt.Printf("IMAGE=%s\n", image)
	time.Sleep(2 * time.Minute)
}
