package suite

import (
	"errors"
	"math"
	"path"
	"slices"
	"strings"

	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/redact"
)

// policyKeys are the keys of a [policy] table. require is accepted only at
// suite level (and in the project's cleanroom.toml).
var policyKeys = []string{
	"preset", "network",
	"read_only_rootfs", "tmpfs", "volumes",
	"cap_drop", "cap_add", "no_new_privileges", "user",
	"memory", "cpus", "pids", "step_timeout", "suite_timeout",
	"max_memory", "max_cpu_seconds",
	"secrets", "redact", "require",
}

// policyLevel says where a [policy] table sits, which decides the keys it
// may hold.
type policyLevel int

const (
	policySuite policyLevel = iota
	policyService
	policyStep
)

func (d *decoder) policy(e *entry, level policyLevel) *Policy {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	p := &Policy{Pos: t.pos, Keys: map[string]Pos{}}
	l := &p.Layer
	l.Pos = map[string]string{}
	for _, kv := range t.entries {
		if !d.policyEntry(kv, p, level) {
			continue
		}
		p.Keys[kv.key] = kv.val.pos
		l.Pos[kv.key] = kv.val.pos.String()
	}
	return p
}

// policyEntry decodes one key into p; it reports whether the key was taken.
func (d *decoder) policyEntry(kv *entry, p *Policy, level policyLevel) bool {
	l := &p.Layer
	switch kv.key {
	case "preset":
		f, ok := d.oneOf(kv, policy.Presets()...)
		if ok {
			l.Preset = &f.Value
		}
		return ok
	case "network":
		f, ok := d.oneOf(kv, string(policy.Isolated), string(policy.None), string(policy.Bridge))
		if ok {
			n := policy.Network(f.Value)
			l.Network = &n
		}
		return ok
	case "read_only_rootfs":
		return setBool(d, kv, &l.ReadOnlyRootfs)
	case "no_new_privileges":
		return setBool(d, kv, &l.NoNewPrivileges)
	case "user":
		f, ok := d.nonEmpty(kv)
		if ok {
			l.User = &f.Value
		}
		return ok
	case "tmpfs":
		t, ok := d.table(kv)
		if !ok {
			return false
		}
		l.Tmpfs = map[string]int64{}
		for _, m := range t.entries {
			if !d.containerPath(m.key, m.keyPos) {
				continue
			}
			if m.val.kind == kString && m.val.str == "" {
				l.Tmpfs[m.key] = 0 // the engine's default size
				continue
			}
			if f, ok := d.size(m); ok {
				l.Tmpfs[m.key] = f.Value
			}
		}
		return true
	case "volumes":
		list, ok := d.strList(kv)
		if !ok {
			return false
		}
		l.Volumes = []string{}
		for _, f := range list {
			if d.containerPath(f.Value, f.Pos) {
				l.Volumes = append(l.Volumes, f.Value)
			}
		}
		return true
	case "cap_drop", "cap_add":
		list, ok := d.strList(kv)
		if !ok {
			return false
		}
		caps := []string{}
		for _, f := range list {
			c, ok := policy.NormalizeCapability(f.Value)
			if !ok {
				msg := "unknown capability " + quote(f.Value)
				if s := suggest(strings.ToUpper(f.Value), policy.Capabilities); s != "" {
					msg += " — did you mean " + quote(s) + "?"
				}
				d.ps.add(f.Pos, "%s", msg)
				continue
			}
			if c == "ALL" && kv.key == "cap_add" {
				d.ps.add(f.Pos, "cap_add cannot add \"ALL\": name the capabilities the container needs")
				continue
			}
			caps = append(caps, c)
		}
		if kv.key == "cap_drop" {
			l.CapDrop = caps
		} else {
			l.CapAdd = caps
		}
		return true
	case "memory", "max_memory":
		f, ok := d.size(kv)
		if !ok {
			return false
		}
		if kv.key == "memory" {
			if f.Value < minMemory {
				d.ps.add(f.Pos, "%q must be at least 6MiB, the engine's smallest memory limit", kv.key)
				return false
			}
			l.Memory = &f.Value
		} else {
			l.MaxMemory = &f.Value
		}
		return true
	case "cpus", "max_cpu_seconds":
		f, ok := d.float(kv)
		if !ok {
			return false
		}
		if !(f.Value > 0) || math.IsInf(f.Value, 0) {
			d.ps.add(f.Pos, "%q must be a positive number", kv.key)
			return false
		}
		if kv.key == "cpus" {
			l.CPUs = &f.Value
		} else {
			l.MaxCPUSeconds = &f.Value
		}
		return true
	case "pids":
		f, ok := d.int64(kv)
		if !ok {
			return false
		}
		if f.Value <= 0 {
			d.ps.add(f.Pos, "%q must be positive", kv.key)
			return false
		}
		l.Pids = &f.Value
		return true
	case "step_timeout", "suite_timeout":
		f, ok := d.duration(kv)
		if !ok {
			return false
		}
		if kv.key == "step_timeout" {
			l.StepTimeout = &f.Value
		} else {
			l.SuiteTimeout = &f.Value
		}
		return true
	case "secrets":
		list, ok := d.strList(kv)
		if !ok {
			return false
		}
		l.Secrets = []string{}
		for _, s := range list {
			if !identRE.MatchString(s.Value) {
				d.ps.add(s.Pos, "secret %q must be an environment variable name", s.Value)
				continue
			}
			l.Secrets = append(l.Secrets, s.Value)
		}
		return true
	case "redact":
		list, ok := d.strList(kv)
		if !ok {
			return false
		}
		l.Redact = []string{}
		for _, f := range list {
			// Checked as the redactor will compile it, so that what
			// loads here also runs.
			if _, err := redact.New(nil, []string{f.Value}); err != nil {
				var pe *redact.PatternError
				if errors.As(err, &pe) {
					err = pe.Err
				}
				d.ps.add(f.Pos, "redact: %q: %v", f.Value, err)
				continue
			}
			l.Redact = append(l.Redact, f.Value)
		}
		return true
	case "require":
		if level != policySuite {
			d.ps.add(kv.keyPos, "\"require\" belongs in the suite's [policy] (or the project's cleanroom.toml): compliance rules apply to every container of a suite")
			return false
		}
		list, ok := d.strList(kv)
		if !ok {
			return false
		}
		names := policy.RuleNames()
		for _, f := range list {
			if _, ok := policy.LookupRule(f.Value); !ok {
				msg := "unknown compliance rule " + quote(f.Value) + " (rules: " + strings.Join(names, ", ") + ")"
				if s := suggest(f.Value, names); s != "" {
					msg = "unknown compliance rule " + quote(f.Value) + " — did you mean " + quote(s) + "?"
				}
				d.ps.add(f.Pos, "%s", msg)
				continue
			}
			p.Require = append(p.Require, f)
			l.Require = append(l.Require, f.Value)
		}
		return true
	}
	valid := policyKeys
	if level != policySuite {
		valid = slices.DeleteFunc(slices.Clone(policyKeys), func(k string) bool { return k == "require" || k == "suite_timeout" })
	}
	d.unknownKey(kv, valid)
	return false
}

// minMemory is the smallest memory limit Docker accepts.
const minMemory = 6 << 20

func setBool(d *decoder, kv *entry, dst **bool) bool {
	f, ok := d.bool(kv)
	if ok {
		*dst = &f.Value
	}
	return ok
}

// containerPath checks that p is an absolute, clean path inside a container.
func (d *decoder) containerPath(p string, pos Pos) bool {
	if !strings.HasPrefix(p, "/") || path.Clean(p) != p || p == "/" {
		d.ps.add(pos, "%q must be an absolute path inside the container, such as \"/tmp\"", p)
		return false
	}
	return true
}

func quote(s string) string { return `"` + s + `"` }

// containerKeys are the policy keys that configure a container: they mean
// nothing for a step that runs no container of its own.
var containerKeys = []string{
	"preset", "network", "read_only_rootfs", "tmpfs", "volumes",
	"cap_drop", "cap_add", "no_new_privileges", "user",
	"memory", "cpus", "pids",
}

// checkPolicyPlacement rejects policy keys where they cannot apply: a
// container's settings on a step that runs in a service's container (which
// is already running) or runs no process at all, and suite_timeout below
// the suite.
func (d *decoder) checkPolicyPlacement() {
	for _, svc := range d.s.Services {
		if p := svc.Policy; p != nil {
			if pos, ok := p.Keys["suite_timeout"]; ok {
				d.ps.add(pos, "\"suite_timeout\" belongs in the suite's [policy]: service %q cannot limit the whole suite", svc.Name)
			}
		}
	}
	for _, sc := range d.s.Scenarios {
		for _, st := range sc.Steps {
			p := st.Policy
			if p == nil {
				continue
			}
			if pos, ok := p.Keys["suite_timeout"]; ok {
				d.ps.add(pos, "\"suite_timeout\" belongs in the suite's [policy]: a step cannot limit the whole suite")
			}
			if st.Kind == StepExec && st.Service.Value == "" {
				continue // a one-shot container: every key applies
			}
			for _, k := range containerKeys {
				pos, ok := p.Keys[k]
				if !ok {
					continue
				}
				if st.Kind == StepExec {
					d.ps.add(pos, "%q configures a container, and this step runs in service %q, which is already running: set it in [services.%s.policy]", k, st.Service.Value, st.Service.Value)
				} else {
					d.ps.add(pos, "%q configures a container, and %s step runs none: set it on the service", k, st.Kind.article())
				}
			}
		}
	}
}

// ParseProjectPolicy decodes the [policy] table of a project settings file
// (cleanroom.toml) with the same keys, checks and positions as a suite's.
// Other tables of the file are not its business and are ignored. It
// returns nil and no error when the file has no [policy].
func ParseProjectPolicy(path string, src []byte) (*Policy, error) {
	root, p := parseTree(path, src)
	if p != nil {
		return nil, problems{*p}.errors()
	}
	var ps problems
	d := &decoder{ps: &ps, s: &Suite{File: path}}
	var out *Policy
	for _, e := range root.entries {
		if e.key == "policy" {
			out = d.policy(e, policySuite)
		}
	}
	if len(ps) > 0 {
		return nil, ps.errors()
	}
	return out, nil
}
