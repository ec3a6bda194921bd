package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/image"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// BuildRepo is the repository every built image is tagged in:
// cleanroom-build/<service>:<session tail>. `docker images 'cleanroom-build/*'`
// lists what builds left.
const BuildRepo = "cleanroom-build"

// buildTailLines is how much of the build output a failed build's error
// carries: enough for the failing step and what led to it.
const buildTailLines = 40

// buildEntry is one image built (or being built) in a session; done closes
// when the build has ended, with image or err set.
type buildEntry struct {
	done  chan struct{}
	image string
	err   error
	// cut: the build failed because its caller's context ended, which says
	// nothing about the build itself.
	cut bool
	// cancel stops the build; Close uses it not to wait for a whole build.
	cancel context.CancelFunc
}

// Build implements backend.Session through testcontainers' Dockerfile
// support: the context is sent as a tar (honouring .dockerignore) to the
// engine's classic builder, the image is tagged
// cleanroom-build/<name>:<session tail> and labelled with the session.
func (s *session) Build(ctx context.Context, spec backend.BuildSpec) (string, error) {
	dir, dockerfile, err := buildPaths(spec)
	if err != nil {
		return "", err
	}
	key := buildKey(dir, dockerfile, spec)
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name, Err: errors.New("session is closed")}
		}
		if s.builds == nil {
			s.builds = map[string]*buildEntry{}
		}
		if b, ok := s.builds[key]; ok {
			s.mu.Unlock()
			select {
			case <-b.done:
			case <-ctx.Done():
				return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name, Err: ctx.Err()}
			}
			// A build cut short by its own caller's context: build again
			// for this caller (the entry is gone).
			if b.cut && ctx.Err() == nil {
				continue
			}
			return b.image, b.err
		}
		bctx, cancel := context.WithCancel(ctx)
		b := &buildEntry{done: make(chan struct{}), cancel: cancel}
		s.builds[key] = b
		tag := s.buildTag(spec.Name)
		s.mu.Unlock()

		b.image, b.err = s.build(bctx, spec, dir, dockerfile, tag)
		cancel()
		b.cut = b.err != nil && ctx.Err() != nil
		s.mu.Lock()
		if b.err != nil {
			delete(s.builds, key)
			delete(s.tags, tag)
		}
		lateClose := s.closed
		s.mu.Unlock()
		close(b.done)
		if b.err == nil && lateClose {
			// Close ran while the image was being built; it must not
			// outlive the session.
			if !spec.Keep {
				_ = s.b.removeImageRef(context.WithoutCancel(ctx), b.image)
			}
			return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name, Err: errors.New("session closed during build")}
		}
		return b.image, b.err
	}
}

// buildTag picks the session's tag for a build of name: the same name built
// from another spec gets a numbered tag rather than stealing the first's.
// Called with s.mu held.
func (s *session) buildTag(name string) string {
	tail := s.id
	if len(tail) > 12 {
		tail = tail[len(tail)-12:]
	}
	repo := BuildRepo + "/" + repoComponent(name)
	tag := repo + ":" + tail
	for n := 2; s.tags[tag]; n++ {
		tag = fmt.Sprintf("%s:%s-%d", repo, tail, n)
	}
	if s.tags == nil {
		s.tags = map[string]bool{}
	}
	s.tags[tag] = true
	return tag
}

// build runs one build and, when it fails, removes the layers it committed
// and returns the end of its output in the error.
func (s *session) build(ctx context.Context, spec backend.BuildSpec, dir, dockerfile, tag string) (string, error) {
	labels := copyLabels(s.labels)
	labels[backend.LabelService] = spec.Name
	if spec.Keep {
		labels[backend.LabelKeep] = "true"
	}
	args := make(map[string]*string, len(spec.Args))
	for k, v := range spec.Args {
		args[k] = &v
	}
	out := &buildOutput{log: spec.Log}
	repo, version, _ := strings.Cut(tag, ":")
	req := testcontainers.ContainerRequest{FromDockerfile: testcontainers.FromDockerfile{
		Context:        dir,
		Dockerfile:     dockerfile,
		Repo:           repo,
		Tag:            version,
		BuildArgs:      args,
		BuildLogWriter: out,
		// cleanroom, not testcontainers, decides when the image goes; this
		// also keeps testcontainers' own labels off it.
		KeepImage: true,
		BuildOptionsModifier: func(o *client.ImageBuildOptions) {
			o.Labels = labels
			// The classic builder: BuildKit needs a session stream that
			// testcontainers does not open, and the output parsing below
			// reads the classic builder's step lines.
			o.Version = build.BuilderV1
		},
	}}
	p, err := testcontainers.NewDockerProvider(testcontainers.WithLogger(discardLogger{}))
	if err != nil {
		return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name, Err: err}
	}
	defer p.Close()
	image, err := p.BuildImage(ctx, &req)
	out.flush()
	if err != nil {
		s.b.removeLeftovers(context.WithoutCancel(ctx), out)
		return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name,
			Err: fmt.Errorf("%w%s%s", err, fromHint(err), out.tailText())}
	}
	return image, nil
}

// buildPaths resolves the context directory and the Dockerfile's path
// inside it (the engine reads it from the context it is sent).
func buildPaths(spec backend.BuildSpec) (dir, dockerfile string, err error) {
	invalid := func(format string, args ...any) (string, string, error) {
		return "", "", &errs.ValidationError{Field: "service " + spec.Name + ": build", Message: fmt.Sprintf(format, args...)}
	}
	if spec.Context == "" {
		return invalid("no context directory given")
	}
	dir, err = filepath.Abs(spec.Context)
	if err != nil {
		return invalid("context %q: %v", spec.Context, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return invalid("context %q is not a directory", spec.Context)
	}
	df := spec.Dockerfile
	if df == "" {
		df = "Dockerfile"
	}
	abs := df
	if !filepath.IsAbs(abs) {
		abs = filepath.Join(dir, abs)
	}
	rel, err := filepath.Rel(dir, abs)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return invalid("dockerfile %q is outside the context %q; the engine reads it from the context", df, spec.Context)
	}
	if st, err := os.Stat(abs); err != nil || st.IsDir() {
		return invalid("no dockerfile %q in the context %q", df, spec.Context)
	}
	return dir, filepath.ToSlash(rel), nil
}

// buildKey identifies a build in a session: what goes into the image, and
// whether it is kept (a kept image carries another label).
func buildKey(dir, dockerfile string, spec backend.BuildSpec) string {
	h := sha256.New()
	_ = json.NewEncoder(h).Encode(struct {
		Dir, Dockerfile string
		Args            map[string]string
		Keep            bool
	}{dir, dockerfile, spec.Args, spec.Keep})
	return hex.EncodeToString(h.Sum(nil))
}

var repoSeparators = regexp.MustCompile(`[^a-z0-9]+`)

// repoComponent makes a service name a valid repository path component
// (lowercase alphanumerics separated by single dashes).
func repoComponent(name string) string {
	c := strings.Trim(repoSeparators.ReplaceAllString(strings.ToLower(name), "-"), "-")
	if c == "" {
		return "image"
	}
	return c
}

// fromHint explains the most likely cause when the engine tried to fetch a
// base image: offline, or the name is only known through cleanroom's image
// map, which does not reach into Dockerfiles.
func fromHint(err error) string {
	msg := err.Error()
	for _, sign := range []string{"pull access denied", "manifest unknown", "registry-1.docker.io", "proxyconnect", "no such host"} {
		if strings.Contains(msg, sign) {
			return "\n(the engine tried to pull a base image: the FROM images of a Dockerfile must exist on the engine, since the image map does not apply inside Dockerfiles; pass the base as a build arg, FROM ${BASE}, to choose it per environment)"
		}
	}
	return ""
}

// removeImages removes the images labelled with filter that are not to be
// kept; it returns the IDs removed.
func (b *Backend) removeImages(ctx context.Context, filter client.Filters, judge func(labels map[string]string) bool) ([]string, error) {
	list, err := b.cli.ImageList(ctx, client.ImageListOptions{Filters: filter})
	if err != nil {
		return nil, &errs.BackendError{Backend: Name, Op: "list images", Err: err}
	}
	var removed []string
	var all []error
	for _, img := range list.Items {
		if img.Labels[backend.LabelKeep] == "true" || !judge(img.Labels) {
			continue
		}
		if err := b.removeImage(ctx, img); err != nil {
			all = append(all, err)
			continue
		}
		removed = append(removed, img.ID)
	}
	return removed, errors.Join(all...)
}

// removeImage removes a built image by its cleanroom tags: a tag the user
// added (docker tag) keeps the image alive under that name. An image left
// without any tag is removed by ID. Untagged parent layers go with it.
func (b *Backend) removeImage(ctx context.Context, img image.Summary) error {
	var refs []string
	for _, t := range img.RepoTags {
		if strings.HasPrefix(t, BuildRepo+"/") {
			refs = append(refs, t)
		}
	}
	if len(img.RepoTags) == 0 {
		refs = append(refs, img.ID)
	}
	var all []error
	for _, ref := range refs {
		if err := b.removeImageRef(ctx, ref); err != nil {
			all = append(all, err)
		}
	}
	return errors.Join(all...)
}

func (b *Backend) removeImageRef(ctx context.Context, ref string) error {
	_, err := b.cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !isNotFound(err) && !isImageGone(err) {
		return &errs.BackendError{Backend: Name, Op: "remove image", Target: shortID(strings.TrimPrefix(ref, "sha256:")), Err: err}
	}
	return nil
}

// removeLeftovers removes what a failed build left: the container of the
// step that was running (the builder removes it too, but maybe after the
// layer removal below, which it would block), and the layers the build
// committed. The last layer holds the others as its parents; removing it
// prunes them, down to layers that other images (or the base) still use.
func (b *Backend) removeLeftovers(ctx context.Context, out *buildOutput) {
	running, layers := out.leftovers()
	if running != "" {
		_ = b.removeContainer(ctx, running)
	}
	if len(layers) == 0 {
		return
	}
	last := layers[len(layers)-1]
	// Something may have tagged the layer meanwhile, and removing a tagged
	// image by ID would delete it.
	if res, err := b.cli.ImageInspect(ctx, last); err != nil || len(res.RepoTags) > 0 {
		return
	}
	_ = b.removeImageRef(ctx, last)
}

// buildOutput receives the build's output (the engine's JSON stream as
// testcontainers renders it): it hands each line to the caller's log, keeps
// the last lines for the error, and notes the layers the build committed.
type buildOutput struct {
	log func(line string)

	mu      sync.Mutex
	partial []byte
	tail    []string
	layers  []string // IDs of layers committed by this build, in order
	running string   // the container of the step running now
	inFrom  bool     // the current step is a FROM: its layer is the base
	cached  bool     // the current step's layer came from the cache
}

var (
	layerLine   = regexp.MustCompile(`^ ---> ([0-9a-f]{12,64})$`)
	runningLine = regexp.MustCompile(`^ ---> Running in ([0-9a-f]{12,64})$`)
)

func (o *buildOutput) Write(p []byte) (int, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.partial = append(o.partial, p...)
	for {
		i := strings.IndexAny(string(o.partial), "\r\n")
		if i < 0 {
			break
		}
		line := string(o.partial[:i])
		o.partial = o.partial[i+1:]
		o.line(line)
	}
	return len(p), nil
}

// flush passes on a last line without a newline.
func (o *buildOutput) flush() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.partial) > 0 {
		o.line(string(o.partial))
		o.partial = nil
	}
}

// line handles one line. Called with o.mu held.
func (o *buildOutput) line(line string) {
	line = strings.TrimRight(line, " \t")
	if line == "" {
		return
	}
	if o.log != nil {
		o.log(line)
	}
	o.tail = append(o.tail, line)
	if len(o.tail) > buildTailLines {
		o.tail = o.tail[len(o.tail)-buildTailLines:]
	}
	switch {
	case strings.HasPrefix(line, "Step "):
		_, instr, _ := strings.Cut(line, " : ")
		o.inFrom = strings.HasPrefix(strings.ToUpper(instr), "FROM ")
		o.cached = false
	case line == " ---> Using cache":
		o.cached = true
	case runningLine.MatchString(line):
		o.running = runningLine.FindStringSubmatch(line)[1]
	case strings.HasPrefix(line, "Removing intermediate container "):
		o.running = ""
	default:
		if m := layerLine.FindStringSubmatch(line); m != nil && !o.inFrom && !o.cached {
			o.layers = append(o.layers, m[1])
		}
	}
}

func (o *buildOutput) leftovers() (running string, layers []string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.running, append([]string(nil), o.layers...)
}

func (o *buildOutput) tailText() string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.tail) == 0 {
		return "\n(the build printed nothing)"
	}
	return fmt.Sprintf("\nlast %d lines of the build output:\n  %s", len(o.tail), strings.Join(o.tail, "\n  "))
}

// sessionImages is the filter for the images a session built.
func sessionImages(id string) client.Filters {
	return client.Filters{}.Add("label", backend.LabelSession+"="+id)
}
