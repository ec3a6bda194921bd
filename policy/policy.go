// Package policy is cleanroom's security policy and resource limits: the
// model, the presets, how layers merge, and the compliance rules a project
// can require.
//
// A policy is written in layers: project defaults (cleanroom.toml), the
// suite's [policy], a service's policy and a step's policy. Resolve merges
// them into the effective Policy of one container. Backends translate an
// effective Policy into engine settings; they never invent one, and this
// package never talks to an engine.
package policy

import (
	"fmt"
	"maps"
	"path"
	"reflect"
	"slices"
	"strings"
	"time"
)

// Network is where a container's traffic may go.
type Network string

const (
	// Isolated: the environment's private network only, which has no route
	// out; the runner still reaches the services on it.
	Isolated Network = "isolated"
	// None: loopback only.
	None Network = "none"
	// Bridge: the environment's network plus the engine's default bridge,
	// with a route out. Only when asked for.
	Bridge Network = "bridge"
)

// Presets.
const (
	Standard = "standard"
	Strict   = "strict"
)

// Policy is the effective policy of one container (or of the commands a
// step runs in one). The zero value is "no limits" on a private network; a
// policy normally starts from a preset (see Resolve).
type Policy struct {
	Preset  string  `json:"preset"`
	Network Network `json:"network"`

	// Filesystem.
	ReadOnlyRootfs bool             `json:"read_only_rootfs"`
	Tmpfs          map[string]int64 `json:"tmpfs,omitempty"`   // path → size in bytes; 0 is the engine's default
	Volumes        []string         `json:"volumes,omitempty"` // writable paths, backed by engine volumes

	// Process.
	CapDrop         []string `json:"cap_drop,omitempty"` // "ALL" or capability names, without "CAP_"
	CapAdd          []string `json:"cap_add,omitempty"`
	NoNewPrivileges bool     `json:"no_new_privileges"`
	User            string   `json:"user,omitempty"` // "" is the image's user
	// Seccomp is the engine's default profile on Docker (cleanroom has no
	// way to turn it off), and none on the local backend, which installs no
	// syscall filter. It is recorded so that an audit says so.
	Seccomp string `json:"seccomp"`

	// Resources. Zero means no limit.
	Memory       int64         `json:"memory,omitempty"` // bytes; swap is limited to the same amount
	CPUs         float64       `json:"cpus,omitempty"`
	Pids         int64         `json:"pids,omitempty"`
	StepTimeout  time.Duration `json:"step_timeout,omitempty"`  // the longest a step may run
	SuiteTimeout time.Duration `json:"suite_timeout,omitempty"` // the longest a suite may run

	// Thresholds checked after each step: a step whose container used more
	// fails with a *errs.ResourceError, even though no limit stopped it.
	MaxMemory     int64   `json:"max_memory,omitempty"`      // peak bytes during the step
	MaxCPUSeconds float64 `json:"max_cpu_seconds,omitempty"` // CPU time used during the step

	// Data.
	Secrets []string `json:"secrets,omitempty"` // environment variable names whose values are redacted
	Redact  []string `json:"redact,omitempty"`  // regular expressions whose matches are redacted
}

// Seccomp settings: the engine's default profile, or no filter at all
// (what the local backend runs under, whatever the policy asked).
const (
	SeccompDefault = "default"
	SeccompNone    = "none"
)

// Layer is one [policy] table: only the fields it sets are non-nil. Pos
// maps each key the layer set to where it was written ("file:line:col"),
// so that a merged policy can say where each value came from.
type Layer struct {
	Preset          *string
	Network         *Network
	ReadOnlyRootfs  *bool
	Tmpfs           map[string]int64
	Volumes         []string
	CapDrop         []string
	CapAdd          []string
	NoNewPrivileges *bool
	User            *string
	Memory          *int64
	CPUs            *float64
	Pids            *int64
	StepTimeout     *time.Duration
	SuiteTimeout    *time.Duration
	MaxMemory       *int64
	MaxCPUSeconds   *float64
	Secrets         []string
	Redact          []string
	// Require lists compliance rules (see RuleNames); only project and suite
	// layers may set it.
	Require []string

	Pos map[string]string // key → position
}

// Preset returns the named preset; ok is false for an unknown name.
//
// standard is what a test of ordinary software needs: a private network
// with no route out, no privilege escalation through setuid binaries, the
// engine's default capabilities and seccomp profile, and a process limit
// that stops a fork bomb. strict locks everything else too: a read-only
// root file system with a small /tmp, no capabilities at all, and memory,
// CPU and process limits.
func Preset(name string) (Policy, bool) {
	switch name {
	case Standard:
		return Policy{
			Preset:          Standard,
			Network:         Isolated,
			NoNewPrivileges: true,
			Seccomp:         SeccompDefault,
			Pids:            4096,
		}, true
	case Strict:
		return Policy{
			Preset:          Strict,
			Network:         Isolated,
			ReadOnlyRootfs:  true,
			Tmpfs:           map[string]int64{"/tmp": 64 << 20},
			CapDrop:         []string{"ALL"},
			NoNewPrivileges: true,
			Seccomp:         SeccompDefault,
			Memory:          512 << 20,
			CPUs:            1,
			Pids:            256,
		}, true
	}
	return Policy{}, false
}

// Presets lists the preset names.
func Presets() []string { return []string{Standard, Strict} }

// Effective is a resolved policy with where each of its values came from.
type Effective struct {
	Policy
	// Origin maps a key to the position of the layer that set it; a key
	// missing here comes from the preset.
	Origin map[string]string
}

// presetKeys are the keys a preset sets. A preset leaves the others — the
// user, volumes, timeouts, thresholds, secrets — as the broader layers had
// them: "this service is strict" says how its container is locked, not how
// long its steps may take.
var presetKeys = []string{"network", "read_only_rootfs", "tmpfs", "cap_drop", "cap_add", "no_new_privileges", "memory", "cpus", "pids"}

// Resolve merges layers, least specific first (project, suite, service,
// step; nil layers are skipped), starting from the standard preset. A layer
// that names a preset puts that preset's values in place at its level —
// "this service is strict" — and then every key a layer sets overrides the
// same key of the layers before it. Lists of secrets and redaction patterns
// are the union of all layers, presets included: a narrower layer can add a
// secret but never reveal one.
func Resolve(layers ...*Layer) Effective {
	p, _ := Preset(Standard)
	e := Effective{Policy: p, Origin: map[string]string{}}
	for _, l := range layers {
		if l == nil {
			continue
		}
		e.apply(l)
	}
	e.Secrets = sortedUnique(e.Secrets)
	e.Redact = sortedUnique(e.Redact)
	return e
}

func (e *Effective) apply(l *Layer) {
	set := func(key string) { e.Origin[key] = l.Pos[key] }
	if l.Preset != nil {
		if p, ok := Preset(*l.Preset); ok {
			e.Preset = p.Preset
			e.Network, e.ReadOnlyRootfs, e.Tmpfs = p.Network, p.ReadOnlyRootfs, p.Tmpfs
			e.CapDrop, e.CapAdd, e.NoNewPrivileges = p.CapDrop, p.CapAdd, p.NoNewPrivileges
			e.Memory, e.CPUs, e.Pids = p.Memory, p.CPUs, p.Pids
			// Those values now come from the preset this layer named.
			for _, k := range presetKeys {
				if _, ok := e.Origin[k]; ok {
					e.Origin[k] = l.Pos["preset"]
				}
			}
		}
		set("preset")
	}
	if l.Network != nil {
		e.Network = *l.Network
		set("network")
	}
	if l.ReadOnlyRootfs != nil {
		e.ReadOnlyRootfs = *l.ReadOnlyRootfs
		set("read_only_rootfs")
	}
	if l.Tmpfs != nil {
		merged := maps.Clone(e.Tmpfs)
		if merged == nil {
			merged = map[string]int64{}
		}
		maps.Copy(merged, l.Tmpfs)
		e.Tmpfs = merged
		set("tmpfs")
	}
	if l.Volumes != nil {
		e.Volumes = slices.Clone(l.Volumes)
		set("volumes")
	}
	if l.CapDrop != nil {
		e.CapDrop = slices.Clone(l.CapDrop)
		set("cap_drop")
	}
	if l.CapAdd != nil {
		e.CapAdd = slices.Clone(l.CapAdd)
		set("cap_add")
	}
	if l.NoNewPrivileges != nil {
		e.NoNewPrivileges = *l.NoNewPrivileges
		set("no_new_privileges")
	}
	if l.User != nil {
		e.User = *l.User
		set("user")
	}
	if l.Memory != nil {
		e.Memory = *l.Memory
		set("memory")
	}
	if l.CPUs != nil {
		e.CPUs = *l.CPUs
		set("cpus")
	}
	if l.Pids != nil {
		e.Pids = *l.Pids
		set("pids")
	}
	if l.StepTimeout != nil {
		e.StepTimeout = *l.StepTimeout
		set("step_timeout")
	}
	if l.SuiteTimeout != nil {
		e.SuiteTimeout = *l.SuiteTimeout
		set("suite_timeout")
	}
	if l.MaxMemory != nil {
		e.MaxMemory = *l.MaxMemory
		set("max_memory")
	}
	if l.MaxCPUSeconds != nil {
		e.MaxCPUSeconds = *l.MaxCPUSeconds
		set("max_cpu_seconds")
	}
	if l.Secrets != nil {
		e.Secrets = append(e.Secrets, l.Secrets...)
		set("secrets")
	}
	if l.Redact != nil {
		e.Redact = append(e.Redact, l.Redact...)
		set("redact")
	}
}

// IsZero reports whether p is the zero Policy, which the Go API takes to
// mean "no policy given: use the environment's".
func (p Policy) IsZero() bool { return reflect.ValueOf(p).IsZero() }

// DropsAll reports whether every capability is dropped.
func (p Policy) DropsAll() bool {
	return slices.ContainsFunc(p.CapDrop, func(c string) bool { return strings.EqualFold(c, "ALL") })
}

// IsRoot reports whether the container's processes run as root: no user
// (the image's default, which cleanroom cannot know is not root), "root",
// or UID 0.
func (p Policy) IsRoot() bool {
	u, _, _ := strings.Cut(p.User, ":")
	return u == "" || u == "root" || u == "0"
}

// Clone returns a deep copy, so a service kind can adapt a policy without
// touching the one it was given.
func (p Policy) Clone() Policy {
	p.Tmpfs = maps.Clone(p.Tmpfs)
	p.Volumes = slices.Clone(p.Volumes)
	p.CapDrop = slices.Clone(p.CapDrop)
	p.CapAdd = slices.Clone(p.CapAdd)
	p.Secrets = slices.Clone(p.Secrets)
	p.Redact = slices.Clone(p.Redact)
	return p
}

// Describe is a short human summary for -v output and audit readers:
// "isolated, read-only, cap_drop ALL, memory 256MiB, pids 64".
func (p Policy) Describe() string {
	parts := []string{string(p.Network)}
	if p.ReadOnlyRootfs {
		parts = append(parts, "read-only")
	}
	if len(p.CapDrop) > 0 {
		parts = append(parts, "cap_drop "+strings.Join(p.CapDrop, ","))
	}
	if len(p.CapAdd) > 0 {
		parts = append(parts, "cap_add "+strings.Join(p.CapAdd, ","))
	}
	if !p.IsRoot() {
		parts = append(parts, "user "+p.User)
	}
	if p.Memory > 0 {
		parts = append(parts, "memory "+FormatSize(p.Memory))
	}
	if p.CPUs > 0 {
		parts = append(parts, fmt.Sprintf("cpus %g", p.CPUs))
	}
	if p.Pids > 0 {
		parts = append(parts, fmt.Sprintf("pids %d", p.Pids))
	}
	return strings.Join(parts, ", ")
}

// FormatSize writes bytes the way the suite format reads them: "256MiB".
func FormatSize(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for n >= 1024 && n%1024 == 0 && i < len(units)-1 {
		n /= 1024
		i++
	}
	return fmt.Sprintf("%d%s", n, units[i])
}

func sortedUnique(in []string) []string {
	if len(in) == 0 {
		return nil
	}
	out := slices.Clone(in)
	slices.Sort(out)
	return slices.Compact(out)
}

// Needs is what a service kind's image cannot run without, so that a
// locked-down policy still starts it: the PostgreSQL and Redis images start
// as root, take ownership of their data directory and then drop to their
// own user, which takes a handful of capabilities, and they write to a few
// paths.
type Needs struct {
	Caps      []string // added when the policy drops them
	Writable  []string // given a tmpfs when the root file system is read-only
	MinMemory int64    // a smaller memory limit is a validation error
}

// Grant returns p with what n needs added: the capabilities the policy drops
// (all of them, or by name) and a tmpfs for each writable path that has
// neither a tmpfs nor a volume under a read-only root file system. The
// result is what the container runs with, and what the audit records.
func (p Policy) Grant(n Needs) Policy {
	p = p.Clone()
	for _, c := range n.Caps {
		dropped := p.DropsAll() || slices.Contains(p.CapDrop, c)
		if dropped && !slices.Contains(p.CapAdd, c) {
			p.CapAdd = append(p.CapAdd, c)
		}
	}
	if p.ReadOnlyRootfs {
		for _, w := range n.Writable {
			if _, ok := p.Tmpfs[w]; ok || slices.Contains(p.Volumes, w) {
				continue
			}
			if p.Tmpfs == nil {
				p.Tmpfs = map[string]int64{}
			}
			p.Tmpfs[w] = 0
		}
	}
	return p
}

// WithFiles returns p able to receive files at paths before the container
// starts. An engine mounts a tmpfs only at start, over anything copied
// there before, and it copies nothing into a read-only root file system —
// but it does copy into a volume. So a tmpfs that would hide a file becomes
// a volume instead (losing its size limit), and under a read-only root each
// directory that receives a file becomes a writable volume. The effective
// policy then shows those volumes.
func (p Policy) WithFiles(paths []string) Policy {
	if len(paths) == 0 {
		return p
	}
	p = p.Clone()
	inside := func(dir, mount string) bool { return dir == mount || strings.HasPrefix(dir, mount+"/") }
	for _, f := range paths {
		dir := path.Dir(f)
		if dir == "/" || slices.ContainsFunc(p.Volumes, func(v string) bool { return inside(dir, v) }) {
			continue // "/" cannot be a volume: a read-only start fails, saying so
		}
		hidden := false
		for t := range p.Tmpfs {
			if inside(dir, t) {
				delete(p.Tmpfs, t)
				dir, hidden = t, true
			}
		}
		if hidden || p.ReadOnlyRootfs {
			p.Volumes = append(p.Volumes, dir)
		}
	}
	return p
}
