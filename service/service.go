// Package service describes the services a test needs (their specs) and the
// running instances cleanroom hands back. The kinds live in subpackages
// (service/postgres, service/redis, service/generic): each fills a Spec with
// its default image, ports, readiness and URL scheme.
package service

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/ready"
)

// Spec declares one service.
type Spec struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"` // "postgres", "redis", "generic"
	Image      string            `json:"image"`
	Env        map[string]string `json:"env,omitempty"`
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Command    []string          `json:"command,omitempty"`
	Ports      []int             `json:"ports,omitempty"` // the first is the primary port
	Files      []backend.File    `json:"files,omitempty"`
	DependsOn  []string          `json:"depends_on,omitempty"`
	User       string            `json:"user,omitempty"`
	WorkDir    string            `json:"workdir,omitempty"`
	Tmpfs      map[string]string `json:"tmpfs,omitempty"`
	// Binds mounts directories of this machine into the container,
	// writable: container path → host path.
	Binds map[string]string `json:"binds,omitempty"`
	// Policy is the security policy and limits the container runs under,
	// as given: start from policy.Preset to keep a preset's other limits.
	// The zero Policy takes the environment's (see cleanroom.WithPolicy).
	Policy policy.Policy `json:"policy"`
	// Needs is what the kind's image needs under a locked-down policy; the
	// environment grants it (policy.Policy.Grant).
	Needs policy.Needs `json:"-"`
	// Build, instead of Image, makes the service's own image from a
	// Dockerfile: the environment builds it when the service starts (while
	// its dependencies start), once per environment, and removes it at
	// Close unless Keep.
	Build *Build `json:"build,omitempty"`
	// Host is how the service runs on a backend without images (the local
	// backend): from programs installed on this machine. A spec with an
	// image and no Host form runs only where images do; a spec with a
	// command and no image runs only on the local backend.
	Host *Host `json:"host,omitempty"`

	// Ready decides when the service takes traffic; nil means "started".
	Ready ready.Check `json:"-"`
	// Scheme builds the kind-specific URL ("postgres://…", "redis://…")
	// from an address; nil means http://address.
	Scheme func(address string) string `json:"-"`
}

// Build is a service's own image, built from a Dockerfile on this machine.
type Build struct {
	// Context is the build context: a directory on this machine.
	Context string `json:"context"`
	// Dockerfile is relative to Context (and must lie inside it); ""
	// means "Dockerfile".
	Dockerfile string `json:"dockerfile,omitempty"`
	// Args are build arguments (ARG in the Dockerfile).
	Args map[string]string `json:"args,omitempty"`
	// Keep leaves the image on the engine after the environment closes.
	Keep bool `json:"keep,omitempty"`
}

// Host is a service's form on a backend without images.
type Host struct {
	// Require lists the programs it runs; a missing one is an error that
	// says what to install.
	Require []Program `json:"require,omitempty"`
	// Entrypoint replaces Spec.Entrypoint (the image's entrypoint, which
	// the kind provides itself here, in Files).
	Entrypoint []string          `json:"entrypoint,omitempty"`
	Env        map[string]string `json:"env,omitempty"` // over Spec.Env
	Files      []backend.File    `json:"files,omitempty"`
	Tmpfs      map[string]string `json:"tmpfs,omitempty"`
}

// Program is a program of this machine that a Host form runs.
type Program struct {
	Name string `json:"name"`
	// Dirs are more places to look, as globs, beside PATH (Debian keeps
	// PostgreSQL's server programs in /usr/lib/postgresql/*/bin); the
	// directory found is put first on the service's PATH.
	Dirs []string `json:"dirs,omitempty"`
	// Install says how to get it: "Debian's postgresql (apt-get install postgresql)".
	Install string `json:"install"`
}

// Key identifies a spec for the singleton registry: two specs with the same
// key are the same service. It hashes every field that changes what runs.
func (s Spec) Key() string {
	h := sha256.New()
	// json.Marshal sorts map keys, so the encoding is canonical.
	_ = json.NewEncoder(h).Encode(s)
	if s.Ready != nil {
		fmt.Fprintf(h, "ready:%s", s.Ready.String())
	}
	return hex.EncodeToString(h.Sum(nil))[:16]
}

// PrimaryPort is the port URLs and the runner's endpoint refer to, or 0.
func (s Spec) PrimaryPort() int {
	if len(s.Ports) == 0 {
		return 0
	}
	return s.Ports[0]
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Validate checks the spec on its own; graph checks (unknown dependencies,
// cycles) are done by the manager, which sees all specs.
func (s Spec) Validate() error {
	var list errs.ValidationErrors
	add := func(field, format string, args ...any) {
		list = append(list, &errs.ValidationError{Field: "service " + strconv.Quote(s.Name) + ": " + field, Message: fmt.Sprintf(format, args...)})
	}
	if !nameRE.MatchString(s.Name) {
		add("name", "must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (it becomes a host name)")
	}
	switch {
	case s.Build != nil && s.Image != "":
		add("image", "give an image or a build, not both")
	case s.Build != nil && s.Build.Context == "":
		add("build", "no context directory given")
	case s.Build == nil && s.Image == "" && len(s.Command) == 0 && len(s.Entrypoint) == 0:
		add("image", "no image given (or, for the local backend, no command)")
	}
	for _, p := range s.Ports {
		if p < 1 || p > 65535 {
			add("ports", "%d is not a TCP port", p)
		}
	}
	if slices.Contains(s.DependsOn, s.Name) {
		add("depends_on", "a service cannot depend on itself")
	}
	for _, f := range s.Files {
		if f.Path == "" || f.Path[0] != '/' {
			add("files", "destination %q must be an absolute path", f.Path)
		}
	}
	return list.Err()
}

// DialFunc connects to an address as a backend's containers are reached
// (Instance.DialContext); nil means the runner's own network stack.
type DialFunc = func(ctx context.Context, network, address string) (net.Conn, error)

// Instance is a running service.
type Instance struct {
	Spec      Spec
	Container backend.Container

	// Host and Port are where the runner (this process) reaches the primary
	// port, dialing with DialContext.
	Host string
	Port int
	// Published says Host:Port is a port published on this machine's
	// loopback by a backend whose containers are otherwise reached only
	// through it (backend.Publisher): anything on this machine can dial it.
	Published bool
	// Address is where other services of the environment reach the primary
	// port: "name:port".
	Address string
	// URL is the kind-specific URL for the runner (postgres DSN, redis URL,
	// http base URL); InternalURL is the same for other services.
	URL         string
	InternalURL string

	// Image is the image that runs, after the image map. StartedAt is when
	// its start was requested; ReadyAfter is how long it then took to start
	// and pass its readiness check.
	Image      string
	StartedAt  time.Time
	ReadyAfter time.Duration
	// Policy is the effective policy the container runs under, after the
	// kind's needs were granted.
	Policy policy.Policy
}

// DialContext connects to an endpoint of the service (Host:Port), through
// the container when its backend says so (backend.Dialer): what every
// client of the runner uses.
func (in *Instance) DialContext(ctx context.Context, network, address string) (net.Conn, error) {
	if in.Published {
		var d net.Dialer
		return d.DialContext(ctx, network, address)
	}
	return backend.DialContext(ctx, in.Container, network, address)
}

// NewInstance computes the endpoints of a started container.
func NewInstance(spec Spec, c backend.Container, host string, port int) *Instance {
	in := &Instance{Spec: spec, Container: c, Host: host, Port: port}
	scheme := spec.Scheme
	if scheme == nil {
		scheme = func(addr string) string { return "http://" + addr }
	}
	if p := spec.PrimaryPort(); p != 0 {
		in.Address = net.JoinHostPort(spec.Name, strconv.Itoa(p))
		in.InternalURL = scheme(in.Address)
		in.URL = scheme(net.JoinHostPort(host, strconv.Itoa(port)))
	}
	return in
}
