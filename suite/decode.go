package suite

import (
	"fmt"
	"maps"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Keys valid at each place of a suite file.
var (
	suiteKeys    = []string{"name", "description", "timeout", "seed", "freeze_time", "normalize", "vars", "images", "policy", "services", "scenario"}
	scenarioKeys = []string{"name", "step"}
)

var (
	identRE    = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	snapshotRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)
)

type decoder struct {
	ps *problems
	s  *Suite

	// From a first look at the services, before they are decoded: their
	// names and the dependencies they name, so that templates in a service
	// can be checked against what it depends on.
	serviceNames map[string]bool
	rawDeps      map[string][]string
	// badPorts: services whose ports did not decode, so that checks of a
	// port against them stay quiet rather than repeat the error.
	badPorts map[string]bool

	snapshots map[string]string // name → where it is first written
}

// suiteFileExt is the suffix of suite files.
const suiteFileExt = ".cleanroom.toml"

// defaultName is a suite's name when the file gives none.
func defaultName(file string) string {
	base := filepath.Base(file)
	if n, ok := strings.CutSuffix(base, suiteFileExt); ok && n != "" {
		return n
	}
	return strings.TrimSuffix(base, filepath.Ext(base))
}

func decode(file, dir string, root *node, ps *problems) *Suite {
	s := &Suite{File: file, Dir: dir, Vars: map[string]Field[any]{}, Images: map[string]Field[string]{}}
	s.Name.Value = defaultName(file)
	d := &decoder{ps: ps, s: s, serviceNames: map[string]bool{}, rawDeps: map[string][]string{}, badPorts: map[string]bool{}, snapshots: map[string]string{}}

	var services, scenarios *entry
	for _, e := range root.entries {
		switch e.key {
		case "name":
			if f, ok := d.nonEmpty(e); ok {
				s.Name = f
			}
		case "description":
			s.Description, _ = d.str(e)
		case "timeout":
			s.Timeout, _ = d.duration(e)
		case "seed":
			s.Seed, _ = d.int64(e)
		case "normalize":
			d.normalize(e)
		case "freeze_time":
			if f, ok := d.str(e); ok {
				t, err := time.Parse(time.RFC3339Nano, f.Value)
				if err != nil {
					d.ps.add(f.Pos, "\"freeze_time\" must be an RFC 3339 time such as \"2024-01-01T00:00:00Z\", not %q", f.Value)
					break
				}
				s.FreezeTime = Field[time.Time]{Value: t.UTC(), Pos: f.Pos}
			}
		case "vars":
			d.vars(e)
		case "images":
			d.images(e)
		case "policy":
			s.Policy = d.policy(e, policySuite)
		case "services":
			services = e
		case "scenario":
			scenarios = e
		default:
			d.unknownKey(e, suiteKeys)
		}
	}
	// Services and scenarios are decoded after the loop, whatever their
	// place in the file: their templates refer to the vars.
	if services != nil {
		d.services(services)
	}
	d.checkGraph()
	if scenarios != nil {
		d.scenarios(scenarios)
	} else {
		ps.add(Pos{File: file, Line: 1, Col: 1}, "no scenarios: a suite needs at least one [[scenario]] with a [[scenario.step]]")
	}
	d.checkPolicyPlacement()
	return s
}

func (d *decoder) vars(e *entry) {
	t, ok := d.table(e)
	if !ok {
		return
	}
	for _, kv := range t.entries {
		if !identRE.MatchString(kv.key) {
			d.ps.add(kv.keyPos, "variable name %q must be an identifier (letters, digits, _), so templates can say .vars.NAME", kv.key)
			continue
		}
		var v any
		switch kv.val.kind {
		case kString:
			v = kv.val.str
		case kInt:
			v = kv.val.i
		case kFloat:
			v = kv.val.f
		case kBool:
			v = kv.val.b
		default:
			d.ps.add(kv.val.pos, "variable %q must be a string, number or boolean, not %s", kv.key, kv.val.typeName())
			continue
		}
		d.s.Vars[kv.key] = Field[any]{Value: v, Pos: kv.val.pos}
	}
}

func (d *decoder) images(e *entry) {
	t, ok := d.table(e)
	if !ok {
		return
	}
	for _, kv := range t.entries {
		if f, ok := d.nonEmpty(kv); ok {
			d.s.Images[kv.key] = f
		}
	}
}

func (d *decoder) varSet() map[string]bool {
	out := make(map[string]bool, len(d.s.Vars))
	for k := range d.s.Vars {
		out[k] = true
	}
	return out
}

// tableArray reads an array of tables ([[x]] or x = [{…}]).
func (d *decoder) tableArray(e *entry, header string) ([]*node, bool) {
	if e.val.kind == kTable {
		d.ps.add(e.val.pos, "%q must be an array of tables: write [[%s]], once per %s", e.key, header, e.key)
		return nil, false
	}
	return d.array(e, kTable, "tables")
}

func (d *decoder) scenarios(e *entry) {
	items, ok := d.tableArray(e, "scenario")
	if ok && len(items) == 0 {
		d.ps.add(e.val.pos, "no scenarios: a suite needs at least one [[scenario]] with a [[scenario.step]]")
	}
	names := map[string]Pos{}
	for i, n := range items {
		if n.kind != kTable {
			continue
		}
		sc := d.scenario(n, i)
		if prev, ok := names[sc.Name.Value]; ok {
			pos := sc.Name.Pos
			if !pos.IsValid() {
				pos = sc.Pos
			}
			d.ps.add(pos, "scenario %q is already defined at line %d", sc.Name.Value, prev.Line)
		} else {
			names[sc.Name.Value] = sc.Pos
		}
		d.s.Scenarios = append(d.s.Scenarios, sc)
	}
}

func (d *decoder) scenario(n *node, idx int) *Scenario {
	sc := &Scenario{Pos: n.pos, Name: Field[string]{Value: fmt.Sprintf("scenario %d", idx+1)}}
	var steps []*node
	for _, e := range n.entries {
		switch e.key {
		case "name":
			if f, ok := d.nonEmpty(e); ok {
				sc.Name = f
			}
		case "step":
			steps, _ = d.tableArray(e, "scenario.step")
		default:
			d.unknownKey(e, scenarioKeys)
		}
	}
	if n.get("step") == nil {
		d.ps.add(n.pos, "scenario %q has no steps: add [[scenario.step]] tables after it", sc.Name.Value)
	}
	// The names each step captures, for messages about a variable used
	// before the step that captures it.
	captures := make([][]string, len(steps))
	for i, st := range steps {
		if c := st.get("capture"); c != nil && c.val.kind == kTable {
			for _, kv := range c.val.entries {
				captures[i] = append(captures[i], kv.key)
			}
		}
	}
	vars, scalars := d.varSet(), d.varSet()
	for i, st := range steps {
		if st.kind != kTable {
			continue
		}
		later := map[string]string{}
		for j := i; j < len(steps); j++ {
			for _, name := range captures[j] {
				if _, ok := later[name]; ok || vars[name] {
					continue
				}
				if j == i {
					later[name] = "it is captured by this step, for the steps after it"
				} else {
					later[name] = fmt.Sprintf("it is captured by step %q, after this one", stepName(steps[j], j))
				}
			}
		}
		scope := &scope{vars: maps.Clone(vars), scalars: maps.Clone(scalars), later: later, services: d.serviceNames, allServices: d.serviceNames}
		step := d.step(st, i, scope, sc)
		sc.Steps = append(sc.Steps, step)
		for _, c := range step.Capture {
			vars[c.Name] = true
			delete(scalars, c.Name)
		}
	}
	return sc
}

// stepName is the name of a step as the user sees it.
func stepName(n *node, idx int) string {
	if e := n.get("name"); e != nil && e.val.kind == kString && e.val.str != "" {
		return e.val.str
	}
	return fmt.Sprintf("step %d", idx+1)
}

// normalize reads normalize = [{ match = "regex", replace = "<ID>" }].
func (d *decoder) normalize(e *entry) {
	items, ok := d.tableArray(e, "normalize")
	if !ok {
		return
	}
	for _, n := range items {
		if n.kind != kTable {
			continue
		}
		r := NormalizeRule{Pos: n.pos}
		var hasMatch, hasReplace bool
		for _, kv := range n.entries {
			switch kv.key {
			case "match":
				if f, ok := d.regexp(kv); ok {
					if f.Value.MatchString("") {
						d.ps.add(f.Pos, "normalize: %q matches the empty string, which would insert its replacement between characters", f.Value.String())
						continue
					}
					r.Match, hasMatch = f.Value, true
				}
			case "replace":
				if f, ok := d.str(kv); ok {
					r.Replace, hasReplace = f.Value, true
				}
			default:
				d.unknownKey(kv, []string{"match", "replace"})
			}
		}
		switch {
		case !hasMatch && n.get("match") == nil:
			d.ps.add(n.pos, "normalize: a rule needs match (a regular expression) and replace")
		case !hasReplace && n.get("replace") == nil:
			d.ps.add(n.pos, "normalize: a rule needs replace (the placeholder, $1 for a group)")
		case hasMatch && hasReplace:
			d.s.Normalize = append(d.s.Normalize, r)
		}
	}
}
