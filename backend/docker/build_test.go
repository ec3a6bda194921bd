package docker_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/google/uuid"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/backend/docker"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// openSession creates a session owned by ownerLabel, closed when t ends.
func openSession(t *testing.T, b *docker.Backend, ownerLabel string) backend.Session {
	t.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(t.Context(), backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id,
		backend.LabelOwner:   ownerLabel,
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sess.Close(ctx); err != nil {
			t.Errorf("Close in cleanup: %v", err)
		}
	})
	return sess
}

// buildContext writes files into a fresh directory and returns it.
func buildContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// imageExists asks the engine directly.
func imageExists(t *testing.T, b *docker.Backend, ref string) bool {
	t.Helper()
	_, err := b.Client().ImageInspect(context.Background(), ref)
	if err != nil && !cerrdefs.IsNotFound(err) {
		t.Fatalf("inspect image %s: %v", ref, err)
	}
	return err == nil
}

// removeImageAtEnd removes an image the test keeps on purpose.
func removeImageAtEnd(t *testing.T, b *docker.Backend, ref string) {
	t.Cleanup(func() {
		_, err := b.Client().ImageRemove(context.Background(), ref, clientRemovePrune)
		if err != nil && !cerrdefs.IsNotFound(err) {
			t.Errorf("removing kept image %s: %v", ref, err)
		}
	})
}

var clientRemovePrune = client.ImageRemoveOptions{PruneChildren: true}

func imageListBySession(id string) client.ImageListOptions {
	return client.ImageListOptions{All: true, Filters: sessionFilter(id)}
}

// lines collects a build's output.
type lines struct {
	mu  sync.Mutex
	all []string
}

func (l *lines) log(line string) {
	l.mu.Lock()
	l.all = append(l.all, line)
	l.mu.Unlock()
}

func (l *lines) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.all, "\n")
}

const webDockerfile = `ARG BASE=` + fixtureImage + `
FROM ${BASE}
ARG GREETING=hello
COPY index.html /www/index.html
RUN echo "$GREETING" > /www/greeting.txt
CMD ["httpd", "-f", "-p", "8080", "-h", "/www"]
`

func TestBuildOncePerSessionLabelledAndRemovedAtClose(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	sess := openSession(t, b, owner.Self().String())
	dir := buildContext(t, map[string]string{"Dockerfile": webDockerfile, "index.html": "<h1>built " + sess.ID() + "</h1>\n"})
	spec := backend.BuildSpec{Name: "web", Context: dir, Args: map[string]string{"GREETING": "bonjour"}}

	// Two concurrent builds of one spec, then the same spec under another
	// name: one build. (The name is the first caller's, so the third call
	// comes after the first two: run concurrently, which name won would be
	// up to the scheduler.)
	var out lines
	images := make([]string, 3)
	buildErrs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 2 {
		wg.Go(func() {
			s := spec
			s.Log = out.log
			images[i], buildErrs[i] = sess.Build(ctx, s)
		})
	}
	wg.Wait()
	other := spec
	other.Log, other.Name = out.log, "other"
	images[2], buildErrs[2] = sess.Build(ctx, other)
	for i, err := range buildErrs {
		if err != nil {
			t.Fatalf("Build %d: %v", i, err)
		}
	}
	if images[0] != images[1] || images[0] != images[2] {
		t.Fatalf("images of one spec: got %v, want one image", images)
	}
	if n := strings.Count(out.text(), "Step 1/"); n != 1 {
		t.Errorf("build output: got %d builds, want 1; output:\n%s", n, out.text())
	}
	image := images[0]
	tail := sess.ID()[len(sess.ID())-12:]
	if want := "cleanroom-build/web:" + tail; image != want {
		t.Errorf("image: got %q, want %q", image, want)
	}

	info, err := b.Client().ImageInspect(ctx, image)
	if err != nil {
		t.Fatalf("inspect %s: %v", image, err)
	}
	for k, want := range map[string]string{
		backend.LabelSession: sess.ID(),
		backend.LabelOwner:   owner.Self().String(),
		backend.LabelService: "web",
	} {
		if got := info.Config.Labels[k]; got != want {
			t.Errorf("image label %s: got %q, want %q", k, got, want)
		}
	}
	if _, ok := info.Config.Labels[backend.LabelCreated]; !ok {
		t.Errorf("image labels %v: want %s", info.Config.Labels, backend.LabelCreated)
	}
	if _, ok := info.Config.Labels[backend.LabelKeep]; ok {
		t.Errorf("image labels %v: want no %s", info.Config.Labels, backend.LabelKeep)
	}

	// Another spec under the same name gets a tag of its own.
	spec2 := spec
	spec2.Args = map[string]string{"GREETING": "hallo"}
	image2, err := sess.Build(ctx, spec2)
	if err != nil {
		t.Fatalf("Build with other args: %v", err)
	}
	if want := "cleanroom-build/web:" + tail + "-2"; image2 != want {
		t.Errorf("image of a second spec named web: got %q, want %q", image2, want)
	}

	// Even under "always", a built image is not pulled: no registry has it.
	c, err := sess.Start(ctx, backend.ContainerSpec{Name: "web", Image: image, Pull: backend.PullAlways})
	if err != nil {
		t.Fatalf("Start of the built image: %v", err)
	}
	res, err := c.Exec(ctx, backend.ExecSpec{Cmd: []string{"cat", "/www/greeting.txt", "/www/index.html"}})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("cat in the built image: %v, exit %d, stderr %q", err, res.ExitCode, res.Stderr)
	}
	if want := "bonjour\n<h1>built " + sess.ID() + "</h1>\n"; string(res.Stdout) != want {
		t.Errorf("files of the built image: got %q, want %q (the build arg and the COPY)", res.Stdout, want)
	}

	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close: %v", err)
	}
	for _, img := range []string{image, image2} {
		if imageExists(t, b, img) {
			t.Errorf("image %s after Close: still there, want it removed", img)
		}
	}
	if _, err := sess.Build(ctx, spec); err == nil {
		t.Errorf("Build after Close: got no error, want one")
	}
}

func TestBuildFailureCarriesOutputAndLeavesNoLayer(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	sess := openSession(t, b, owner.Self().String())
	// The COPY of unique content commits a layer no other build shares.
	dir := buildContext(t, map[string]string{
		"broken.Dockerfile": "FROM " + fixtureImage + "\nCOPY unique.txt /unique.txt\nRUN echo about to fail && false\n",
		"unique.txt":        uuid.NewString(),
	})
	var out lines
	_, err := sess.Build(ctx, backend.BuildSpec{Name: "broken", Context: dir, Dockerfile: "broken.Dockerfile", Log: out.log})
	var be *errs.BackendError
	if !errors.As(err, &be) {
		t.Fatalf("Build of a failing Dockerfile: got %v (%T), want a *errs.BackendError", err, err)
	}
	msg := err.Error()
	for _, want := range []string{"build broken", "returned a non-zero code: 1", "lines of the build output", "RUN echo about to fail && false", "about to fail"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error message: want it to contain %q; got:\n%s", want, msg)
		}
	}
	if !strings.Contains(out.text(), "about to fail") {
		t.Errorf("build log: want the RUN output; got:\n%s", out.text())
	}
	m := regexp.MustCompile(`(?m)COPY unique.txt /unique.txt\n ---> ([0-9a-f]{12})$`).FindStringSubmatch(out.text())
	if m == nil {
		t.Fatalf("build log: no layer line after the COPY step; got:\n%s", out.text())
	}
	if imageExists(t, b, m[1]) {
		t.Errorf("layer %s committed by the failed build: still there, want it removed", m[1])
	}
	list, err := b.Client().ImageList(ctx, imageListBySession(sess.ID()))
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) > 0 {
		t.Errorf("images of the session after a failed build: got %d, want none", len(list.Items))
	}
}

func TestBuildRejectsBadPaths(t *testing.T) {
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	sess := openSession(t, b, owner.Self().String())
	dir := buildContext(t, map[string]string{"Dockerfile": "FROM " + fixtureImage + "\n"})
	outside := buildContext(t, map[string]string{"Dockerfile": "FROM " + fixtureImage + "\n"})
	for _, tc := range []struct {
		name string
		spec backend.BuildSpec
		want string
	}{
		{"no context", backend.BuildSpec{Name: "x"}, "no context"},
		{"missing context", backend.BuildSpec{Name: "x", Context: filepath.Join(dir, "nope")}, "not a directory"},
		{"missing dockerfile", backend.BuildSpec{Name: "x", Context: dir, Dockerfile: "Other"}, `no dockerfile "Other"`},
		{"dockerfile outside", backend.BuildSpec{Name: "x", Context: dir, Dockerfile: filepath.Join(outside, "Dockerfile")}, "outside the context"},
		{"dockerfile above", backend.BuildSpec{Name: "x", Context: dir, Dockerfile: "../Dockerfile"}, "outside the context"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := sess.Build(t.Context(), tc.spec)
			var ve *errs.ValidationError
			if !errors.As(err, &ve) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Build: got %v, want a *errs.ValidationError containing %q", err, tc.want)
			}
		})
	}
}

func TestBuildKeepAndSweep(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	// A made-up owner the test's judge calls dead; every other owner is
	// alive, so the sweep touches nothing but this test's session.
	dead := "cleanroom-build-test.invalid/" + uuid.NewString()
	alive := func(o string) bool { return o != dead }
	sess := openSession(t, b, dead)
	dir := buildContext(t, map[string]string{"Dockerfile": webDockerfile, "index.html": "sweep\n"})

	gone, err := sess.Build(ctx, backend.BuildSpec{Name: "gone", Context: dir})
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	kept, err := sess.Build(ctx, backend.BuildSpec{Name: "kept", Context: dir, Keep: true})
	if err != nil {
		t.Fatalf("Build with Keep: %v", err)
	}
	removeImageAtEnd(t, b, kept)
	if gone == kept {
		t.Fatalf("a kept build and an unkept one share image %s, want two", gone)
	}
	goneInfo, err := b.Client().ImageInspect(ctx, gone)
	if err != nil {
		t.Fatal(err)
	}

	rep, err := b.Sweep(ctx, alive)
	if err != nil {
		t.Fatalf("Sweep: %v", err)
	}
	if !slices.Contains(rep.Sessions, sess.ID()) {
		t.Errorf("SweepReport.Sessions: got %v, want %s", rep.Sessions, sess.ID())
	}
	if !slices.Contains(rep.Images, goneInfo.ID) {
		t.Errorf("SweepReport.Images: got %v, want %s (%s)", rep.Images, goneInfo.ID, gone)
	}
	if imageExists(t, b, gone) {
		t.Errorf("image %s of a dead session after Sweep: still there, want it removed", gone)
	}
	if !imageExists(t, b, kept) {
		t.Errorf("kept image %s after Sweep: gone, want it kept", kept)
	}
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close after Sweep: %v", err)
	}
	if !imageExists(t, b, kept) {
		t.Errorf("kept image %s after Close: gone, want it kept", kept)
	}
}

// Close during a build stops it at once and leaves neither the layers it
// committed nor the container of the step that ran.
func TestCloseStopsBuildAndLeavesNothing(t *testing.T) {
	ctx := t.Context()
	b := connect(t)
	t.Cleanup(func() { _ = b.Close() })
	sess := openSession(t, b, owner.Self().String())
	dir := buildContext(t, map[string]string{
		"Dockerfile": "FROM " + fixtureImage + "\nRUN echo " + uuid.NewString() + " > /id\nRUN sleep 60\n",
	})
	sleeping := make(chan struct{})
	var once sync.Once
	var out lines
	log := func(line string) {
		out.log(line)
		if strings.Contains(out.text(), "RUN sleep 60\n ---> Running in ") {
			once.Do(func() { close(sleeping) })
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := sess.Build(ctx, backend.BuildSpec{Name: "slow", Context: dir, Log: log})
		done <- err
	}()
	select {
	case <-sleeping:
	case err := <-done:
		t.Fatalf("Build ended before its sleep step: %v\n%s", err, out.text())
	case <-time.After(time.Minute):
		t.Fatalf("the build did not reach its sleep step; output:\n%s", out.text())
	}
	begin := time.Now()
	if err := sess.Close(ctx); err != nil {
		t.Fatalf("Close during a build: %v", err)
	}
	if took := time.Since(begin); took > 20*time.Second {
		t.Errorf("Close during a build took %s, want it to stop the build rather than wait for it", took)
	}
	if err := <-done; err == nil {
		t.Errorf("Build cut by Close: got an image, want an error")
	}
	text := out.text()
	layer := regexp.MustCompile(`(?m)RUN echo [-0-9a-f]+ > /id\n ---> Running in [0-9a-f]+\n(?:Removing intermediate container [0-9a-f]+\n)? ---> ([0-9a-f]{12})$`).FindStringSubmatch(text)
	step := regexp.MustCompile(`RUN sleep 60\n ---> Running in ([0-9a-f]{12})`).FindStringSubmatch(text)
	if layer == nil || step == nil {
		t.Fatalf("build output: no layer or step container found; got:\n%s", text)
	}
	if imageExists(t, b, layer[1]) {
		t.Errorf("layer %s of the stopped build: still there, want it removed", layer[1])
	}
	if _, err := b.Client().ContainerInspect(ctx, step[1], client.ContainerInspectOptions{}); !cerrdefs.IsNotFound(err) {
		t.Errorf("container %s of the stopped step: got %v, want it removed", step[1], err)
	}
}
