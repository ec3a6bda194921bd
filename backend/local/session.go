package local

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
)

type session struct {
	b      *Backend
	id     string
	labels map[string]string
	dir    string
	ns     nsHost

	hostsMu sync.Mutex // orders rewrites of the hosts file

	mu         sync.Mutex
	containers map[string]*container // by ID
	ports      map[int]string        // port → ID of the container that declared it
	closed     bool
	closeOnce  sync.Once
	closeErr   error
}

func (s *session) ID() string { return s.id }

// DefaultPath is the PATH of a process whose spec sets none, as in a
// Debian image.
const DefaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

// ErrImage is wrapped by the error Start returns for a spec with an image:
// the local backend runs host programs.
var ErrImage = errors.New("the local backend runs programs of this machine, not images")

func (s *session) Start(ctx context.Context, spec backend.ContainerSpec) (backend.Container, error) {
	fail := func(err error) (backend.Container, error) {
		return nil, &errs.BackendError{Backend: Name, Op: "start", Target: spec.Name, Err: err}
	}
	if spec.Image != "" {
		return fail(fmt.Errorf("image %s: %w; run this with the Docker backend (--backend docker), or give the service a command instead of an image", spec.Image, ErrImage))
	}
	if spec.Policy.Network == policy.Bridge {
		return fail(errors.New(`network "bridge": the local backend has no network to the host; use "isolated" (the session's loopback) or the Docker backend`))
	}
	if s.b.rootless && (spec.Policy.Memory > 0 || spec.Policy.CPUs > 0) {
		// Never a limit that is silently not there.
		return fail(errors.New(s.b.Restrictions().Limits))
	}
	argv := append(slices.Clone(spec.Entrypoint), spec.Cmd...)
	if len(argv) == 0 {
		return fail(errors.New("no command to run (the local backend has no image to take one from)"))
	}
	keep, err := keptCaps(spec.Policy.CapDrop, spec.Policy.CapAdd)
	if err != nil {
		return fail(err)
	}
	files, err := sandboxFiles(spec.Files)
	if err != nil {
		return fail(err)
	}
	if err := ctx.Err(); err != nil {
		return fail(err)
	}

	c := &container{s: s, id: newID(spec.Name), name: spec.Name, spec: spec,
		started: make(chan struct{}), exited: make(chan struct{}), logs: newLogBuffer()}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return fail(errors.New("session is closed"))
	}
	for _, p := range spec.Ports {
		if other, ok := s.ports[p]; ok {
			s.mu.Unlock()
			return fail(fmt.Errorf("port %d is already declared by %s: on the local backend the services of an environment share one network namespace, so each port can be used once", p, s.containers[other].name))
		}
	}
	for _, p := range spec.Ports {
		s.ports[p] = c.id
	}
	s.containers[c.id] = c
	s.mu.Unlock()

	err = c.start(ctx, argv, files, keep)
	// A Close that came meanwhile waited for this before removing it.
	close(c.started)
	if err != nil {
		_ = c.Remove(context.WithoutCancel(ctx))
		return fail(err)
	}
	if err := s.writeHosts(); err != nil {
		_ = c.Remove(context.WithoutCancel(ctx))
		return fail(err)
	}
	return c, nil
}

// writeHosts rewrites the session's hosts file, which every sandbox sees as
// /etc/hosts, with every container's name on loopback. It is written in
// place: the sandboxes' bind mounts hold its inode.
func (s *session) writeHosts() error {
	s.hostsMu.Lock()
	defer s.hostsMu.Unlock()
	s.mu.Lock()
	names := []string{"localhost"}
	for _, c := range s.containers {
		names = append(names, c.name)
		if c.spec.Hostname != "" {
			names = append(names, c.spec.Hostname)
		}
	}
	s.mu.Unlock()
	slices.Sort(names)
	names = slices.Compact(names)
	content := "127.0.0.1\t" + strings.Join(names, " ") + "\n::1\tlocalhost ip6-localhost ip6-loopback\n"
	f, err := os.OpenFile(filepath.Join(s.dir, "hosts"), os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return err
	}
	// Over the old content, then cut: a reader never sees an empty file.
	_, err = f.WriteAt([]byte(content), 0)
	if err == nil {
		err = f.Truncate(int64(len(content)))
	}
	return errors.Join(err, f.Close())
}

func newID(name string) string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return name + "-" + hex.EncodeToString(b[:])
}

func sandboxFiles(in []backend.File) ([]sandboxFile, error) {
	var out []sandboxFile
	for _, f := range in {
		content := f.Content
		if content == nil && f.HostPath != "" {
			b, err := os.ReadFile(f.HostPath)
			if err != nil {
				return nil, fmt.Errorf("file for %s: %w", f.Path, err)
			}
			content = b
		}
		if !filepath.IsAbs(f.Path) {
			return nil, fmt.Errorf("file destination %q must be an absolute path", f.Path)
		}
		out = append(out, sandboxFile{Path: f.Path, Content: content, Mode: uint32(f.Mode)})
	}
	return out, nil
}

// start builds the sandbox's config and starts its init process.
func (c *container) start(ctx context.Context, argv []string, files []sandboxFile, keep []uintptr) error {
	s, spec := c.s, c.spec
	c.dir = filepath.Join(s.dir, c.id)
	if err := os.Mkdir(c.dir, 0o700); err != nil {
		return err
	}
	hostname := spec.Hostname
	if hostname == "" {
		hostname = spec.Name
	}
	env := maps.Clone(spec.Env)
	if env == nil {
		env = map[string]string{}
	}
	if _, ok := env["PATH"]; !ok {
		env["PATH"] = strings.Join(append(slices.Clone(s.b.path), DefaultPath), ":")
	}
	if _, ok := env["HOSTNAME"]; !ok {
		env["HOSTNAME"] = hostname
	}
	tmpfs := maps.Clone(spec.Tmpfs)
	if tmpfs == nil {
		tmpfs = map[string]string{}
	}
	for p, size := range spec.Policy.Tmpfs {
		opts := "rw"
		if size > 0 {
			opts += ",size=" + strconv.FormatInt(size, 10)
		}
		tmpfs[p] = opts
	}
	robinds := map[string]string{"/etc/hosts": filepath.Join(s.dir, "hosts")}
	for _, d := range append(slices.Clone(s.b.path), s.b.visible...) {
		robinds[d] = d
	}
	cfg := sandboxConfig{
		StateDir:   c.dir,
		Hostname:   hostname,
		ReadOnly:   spec.Policy.ReadOnlyRootfs,
		Tmpfs:      tmpfs,
		Binds:      spec.Binds,
		Writable:   spec.Policy.Volumes,
		ROBinds:    robinds,
		Private:    []string{s.b.stateDir},
		Files:      files,
		Main:       process{Argv: argv, Env: mergeEnv(nil, env), Dir: spec.WorkDir, User: firstNonEmpty(spec.User, spec.Policy.User)},
		KeepCaps:   keep,
		NoNewPrivs: spec.Policy.NoNewPrivileges,
	}

	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: c.socket(), Net: "unix"})
	if err != nil {
		return err
	}
	// The init process serves on the listener; closing this copy must not
	// remove the socket file the runner dials.
	ln.SetUnlinkOnClose(false)
	lnFile, err := ln.File()
	ln.Close()
	if err != nil {
		return err
	}
	defer lnFile.Close()
	cfgR, cfgW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer cfgR.Close()
	defer cfgW.Close()
	statusR, statusW, err := os.Pipe()
	if err != nil {
		return err
	}
	defer statusR.Close()
	defer statusW.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return err
	}
	go c.logs.copy(outR, false)
	go c.logs.copy(errR, true)
	defer outW.Close()
	defer errW.Close()

	// The container's cgroup carries the limits; the init's, beside it,
	// none (see placement).
	if s.b.cgroups != nil {
		rel := filepath.Join("cleanroom", s.id, c.id)
		cg, err := s.b.cgroups.create(rel, spec.Policy, true)
		if err != nil {
			return err
		}
		c.cg = cg
		initCg, err := s.b.cgroups.create(rel+".init", policy.Policy{}, false)
		if err != nil {
			return err
		}
		c.initCg = initCg
		cfg.Cgroup, cfg.CgroupV2 = cg.paths(), cg.v2
		if !cg.v2 {
			cfg.InitCgroup = initCg.paths()
		}
	} else {
		// Rootless: the process limit is the one the kernel keeps per
		// user namespace (the sandbox has its own); CheckBackend refused
		// the limits that need a cgroup.
		cfg.Rootless, cfg.Nproc = true, spec.Policy.Pids
	}

	boot := initSpec{
		args: []string{"cleanroom-sandbox", spec.Name},
		// One P: the init's Go runtime then runs few threads, and each
		// counts against the sandbox's pids limit.
		env:    []string{initEnv + "=1", sessionEnv + "=" + s.id, "GOMAXPROCS=1"},
		files:  []*os.File{outW, errW, cfgR, lnFile, statusW}, // fds 1, 2, 3, 4, 5
		ownNet: spec.Policy.Network == policy.None,
		nproc:  cfg.Nproc,
	}
	if !boot.ownNet {
		c.ns = s.ns
	}
	pid, exited, err := s.ns.start(boot)
	if err != nil {
		return fmt.Errorf("starting the sandbox: %w", err)
	}
	c.pid = pid
	c.startedAt = time.Now()
	go func() {
		code := <-exited
		// The output pipes end once every process of the sandbox is gone
		// (the PID namespace dies with its init); a container counts as
		// stopped once its last words are in its log.
		c.logs.waitClosed(2 * time.Second)
		c.mu.Lock()
		c.exitCode, c.finishedAt = code, time.Now()
		c.mu.Unlock()
		close(c.exited)
	}()
	// In its cgroup before it runs anything: it waits for its config.
	if c.initCg != nil {
		if err := c.initCg.add(c.pid); err != nil {
			return err
		}
	}
	if err := json.NewEncoder(cfgW).Encode(cfg); err != nil {
		return fmt.Errorf("sending the sandbox its config: %w", err)
	}
	cfgW.Close()
	statusW.Close()
	return c.awaitStart(ctx, statusR)
}

// awaitStart reads the init's report: the main process started, or why not.
func (c *container) awaitStart(ctx context.Context, statusR *os.File) error {
	type result struct {
		rep reply
		err error
	}
	got := make(chan result, 1)
	go func() {
		kind, data, err := readFrame(statusR)
		var rep reply
		if err == nil && kind == frameReply {
			err = json.Unmarshal(data, &rep)
		} else if err == nil {
			err = fmt.Errorf("unexpected frame %q", kind)
		}
		got <- result{rep, err}
	}()
	select {
	case r := <-got:
		if r.err != nil {
			<-c.exited
			return fmt.Errorf("the sandbox ended before it started its command (exit code %d)%s", c.exitCode, backend.LogTail(ctx, c, 10))
		}
		if r.rep.Err != "" {
			return errors.New(r.rep.Err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Run starts a one-shot container, waits for its command and removes it.
func (s *session) Run(ctx context.Context, spec backend.ContainerSpec, timeout time.Duration) (backend.ExecResult, error) {
	begin := time.Now()
	bc, err := s.Start(ctx, spec)
	if err != nil {
		return backend.ExecResult{}, err
	}
	c := bc.(*container)
	defer func() { _ = c.Remove(context.WithoutCancel(ctx)) }()
	sampler, _ := backend.StartSampler(ctx, c, backend.DefaultSampleInterval)
	usage := func() *backend.Usage { return backend.RunUsage(ctx, sampler, c, spec.Policy) }
	var expired <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-c.exited:
		c.logs.waitClosed(time.Second)
		out, errOut := c.logs.streams()
		return backend.ExecResult{ExitCode: c.exitCode, Stdout: out, Stderr: errOut, Duration: time.Since(begin), Usage: usage()}, nil
	case <-expired:
	case <-ctx.Done():
	}
	u := usage()
	_ = c.kill()
	out, errOut := c.logs.streams()
	limit := timeout
	if ctx.Err() != nil {
		limit = time.Since(begin).Round(time.Millisecond)
	}
	return backend.ExecResult{ExitCode: -1, Stdout: out, Stderr: errOut, Duration: time.Since(begin), Usage: u},
		&errs.TimeoutError{Op: "run", Target: spec.Name + ": " + backend.QuoteArgv(append(spec.Entrypoint, spec.Cmd...)), Timeout: limit, Err: ctx.Err()}
}

// Build is not something the local backend can do.
func (s *session) Build(ctx context.Context, spec backend.BuildSpec) (string, error) {
	return "", &errs.BackendError{Backend: Name, Op: "build", Target: spec.Name,
		Err: errors.New("the local backend cannot build images; use the Docker backend (--backend docker) for services with a build")}
}

// DialContext connects to an address inside the session's network
// namespace: a container's name, localhost or 127.0.0.1, and a port.
func (s *session) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	return dialIn(ctx, s.ns, network, address)
}

// Listen listens inside the session's network namespace (address is
// usually "127.0.0.1:0"), where its containers can connect: the socket
// belongs to the namespace it was made in, whichever thread accepts.
func (s *session) Listen(ctx context.Context, network, address string) (net.Listener, error) {
	return s.ns.listen(ctx, network, address)
}

func (s *session) Close(ctx context.Context) error {
	s.closeOnce.Do(func() {
		s.mu.Lock()
		s.closed = true
		cs := slices.Collect(maps.Values(s.containers))
		s.mu.Unlock()
		var wg sync.WaitGroup
		errList := make([]error, len(cs))
		for i, c := range cs {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errList[i] = c.Remove(ctx)
			}()
		}
		wg.Wait()
		if s.b.cgroups != nil {
			errList = append(errList, s.b.cgroups.removeSession(s.id))
		}
		errList = append(errList, s.ns.Close(), os.RemoveAll(s.dir))
		if err := errors.Join(errList...); err != nil {
			s.closeErr = &errs.BackendError{Backend: Name, Op: "close", Target: s.id, Err: err}
		}
	})
	return s.closeErr
}
