package suite

import (
	"fmt"
	"math"
	"net/textproto"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	stepKeys = []string{"name", "service", "image", "exec", "sql", "redis", "http", "env", "workdir", "user", "timeout", "retries", "retry_delay", "continue_on_failure", "capture", "snapshot", "policy", "expect"}
	httpKeys = []string{"service", "port", "method", "path", "url", "headers", "body", "json"}

	stepKinds  = []StepKind{StepExec, StepSQL, StepRedis, StepHTTP}
	actionKeys = []string{"exec", "sql", "redis", "http"}
	// execOnly are the step options that only mean something for a
	// process: where and how it runs.
	execOnly     = []string{"image", "env", "workdir", "user"}
	commonExpect = []string{"max_duration", "spans"}
	expectKeys   = map[StepKind][]string{
		StepExec:  {"exit_code", "stdout", "stderr", "stdout_contains", "stderr_contains", "stdout_matches", "stderr_matches", "stdout_json"},
		StepSQL:   {"rows", "row_count", "rows_affected", "error_contains"},
		StepRedis: {"reply", "error_contains"},
		StepHTTP:  {"status", "headers", "body", "body_contains", "body_matches", "json"},
	}

	methodRE = regexp.MustCompile(`^[A-Z]+$`)
)

func (d *decoder) step(n *node, idx int, sc *scope, scen *Scenario) *Step {
	st := &Step{
		Pos:        n.pos,
		Name:       Field[string]{Value: fmt.Sprintf("step %d", idx+1)},
		Timeout:    Field[time.Duration]{Value: DefaultStepTimeout},
		RetryDelay: Field[time.Duration]{Value: DefaultRetryDelay},
	}
	name := stepName(n, idx)
	var actions []*entry
	for _, e := range n.entries {
		if slices.Contains(actionKeys, e.key) {
			actions = append(actions, e)
		}
	}
	switch len(actions) {
	case 0:
		d.ps.add(n.pos, "step %q has no action: give one of exec, sql, redis or http", name)
	case 1:
		st.Kind = StepKind(actions[0].key)
	default:
		d.ps.add(actions[1].keyPos, "step %q has two actions, %s and %s: a step does one thing, split it into two steps", name, actions[0].key, actions[1].key)
	}
	var expect, capture *entry
	for _, e := range n.entries {
		if st.Kind != "" && st.Kind != StepExec && slices.Contains(execOnly, e.key) {
			d.ps.add(e.keyPos, "%q applies to exec steps only, not to %s steps", e.key, st.Kind)
			continue
		}
		switch e.key {
		case "name":
			if f, ok := d.nonEmpty(e); ok {
				st.Name = f
			}
		case "service":
			st.Service, _ = d.nonEmpty(e)
		case "image":
			st.Image, _ = d.nonEmpty(e)
		case "exec":
			st.Exec, _ = d.argv(e, sc)
			st.ExecPos = e.val.pos
		case "sql":
			if t, ok := d.template(e, sc); ok {
				if strings.TrimSpace(t.Text) == "" {
					d.ps.add(t.Pos, "\"sql\" must not be empty")
				}
				st.SQL = t
			}
		case "redis":
			st.Redis, _ = d.redisArgs(e, sc)
			st.RedisPos = e.val.pos
		case "http":
			st.HTTP = d.httpRequest(e, sc)
		case "env":
			st.Env, _ = d.env(e, sc)
		case "workdir":
			st.Workdir, _ = d.template(e, sc)
		case "user":
			st.User, _ = d.nonEmpty(e)
		case "timeout":
			if f, ok := d.duration(e); ok {
				st.Timeout = f
			}
		case "retries":
			st.Retries, _ = d.intIn(e, 0, math.MaxInt32)
		case "retry_delay":
			if f, ok := d.duration(e); ok {
				st.RetryDelay = f
			}
		case "continue_on_failure":
			st.ContinueOnFailure, _ = d.bool(e)
		case "capture":
			capture = e
		case "snapshot":
			st.Snapshot = d.snapshot(e, scen)
		case "policy":
			st.Policy = d.policy(e, policyStep)
		case "expect":
			expect = e
		default:
			d.unknownKey(e, stepKeys)
		}
	}
	if rd := n.get("retry_delay"); rd != nil && n.get("retries") == nil {
		d.ps.add(rd.keyPos, "retry_delay has no effect without retries")
	}
	if capture != nil {
		st.Capture = d.captures(capture, st.Kind)
	}
	if expect != nil {
		d.expect(expect, st, sc)
	}
	d.stepTarget(n, st)
	return st
}

// redisArgs reads a Redis command: strings and numbers.
func (d *decoder) redisArgs(e *entry, sc *scope) ([]Template, bool) {
	if e.val.kind != kArray {
		d.ps.add(e.val.pos, "\"redis\" must be an array: the command and its arguments, such as [\"SET\", \"key\", \"value\"]; not %s", e.val.typeName())
		return nil, false
	}
	if len(e.val.items) == 0 {
		d.ps.add(e.val.pos, "\"redis\" must not be empty")
		return nil, false
	}
	var out []Template
	ok := true
	for _, it := range e.val.items {
		switch it.kind {
		case kString:
			out = append(out, compileTemplate(it.str, it.pos, sc, d.ps))
		case kInt:
			out = append(out, Template{Text: strconv.FormatInt(it.i, 10), Pos: it.pos})
		case kFloat:
			out = append(out, Template{Text: strconv.FormatFloat(it.f, 'g', -1, 64), Pos: it.pos})
		default:
			d.ps.add(it.pos, "redis arguments must be strings or numbers; this one is %s", it.typeName())
			ok = false
		}
	}
	return out, ok
}

func (d *decoder) httpRequest(e *entry, sc *scope) *HTTPRequest {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	r := &HTTPRequest{Pos: t.pos, Method: Field[string]{Value: "GET"}, Path: Template{Text: "/"}}
	for _, kv := range t.entries {
		switch kv.key {
		case "service":
			r.Service, _ = d.nonEmpty(kv)
		case "port":
			r.Port, _ = d.intIn(kv, 1, 65535)
		case "method":
			if f, ok := d.str(kv); ok {
				if !methodRE.MatchString(f.Value) {
					d.ps.add(f.Pos, "http method %q must be an upper-case word such as GET or POST", f.Value)
				} else {
					r.Method = f
				}
			}
		case "path":
			if tp, ok := d.template(kv, sc); ok {
				if !strings.HasPrefix(tp.Text, "/") && !strings.HasPrefix(tp.Text, "{{") {
					d.ps.add(tp.Pos, "http path must start with \"/\", got %q", tp.Text)
				}
				r.Path = tp
			}
		case "url":
			if tu, ok := d.template(kv, sc); ok {
				if tu.IsStatic() {
					if u, err := url.Parse(tu.Text); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
						d.ps.add(tu.Pos, "http url %q must be an absolute http:// or https:// URL", tu.Text)
					}
				}
				r.URL = tu
			}
		case "headers":
			r.Headers, _ = d.templateMap(kv, sc)
		case "body":
			r.Body, _ = d.template(kv, sc)
		case "json":
			if v, ok := d.literal(kv.val, sc); ok {
				r.JSON = Field[any]{Value: v, Pos: kv.val.pos}
			}
		default:
			d.unknownKey(kv, httpKeys)
		}
	}
	if b, j := t.get("body"), t.get("json"); b != nil && j != nil {
		d.ps.add(j.keyPos, "http gives both body and json: give one")
	}
	if t.get("url") != nil {
		for _, k := range []string{"service", "port", "path"} {
			if kv := t.get(k); kv != nil {
				d.ps.add(kv.keyPos, "http gives both url and %s: a url names the whole target", k)
			}
		}
	}
	return r
}

func (d *decoder) snapshot(e *entry, scen *Scenario) Field[string] {
	f, ok := d.nonEmpty(e)
	if !ok {
		return f
	}
	if !snapshotRE.MatchString(f.Value) {
		d.ps.add(f.Pos, "snapshot name %q must be letters, digits, '.', '-' or '_' (it names an entry of the suite's snapshot file)", f.Value)
		return Field[string]{}
	}
	if prev, ok := d.snapshots[f.Value]; ok {
		d.ps.add(f.Pos, "snapshot %q is already written by %s", f.Value, prev)
		return Field[string]{}
	}
	d.snapshots[f.Value] = fmt.Sprintf("the step at line %d of scenario %q", f.Pos.Line, scen.Name.Value)
	return f
}

func (d *decoder) captures(e *entry, kind StepKind) []*Capture {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	var out []*Capture
	for _, kv := range t.entries {
		if !identRE.MatchString(kv.key) {
			d.ps.add(kv.keyPos, "capture name %q must be an identifier (letters, digits, _), so templates can say .vars.NAME", kv.key)
			continue
		}
		f, ok := d.str(kv)
		if !ok {
			continue
		}
		c, err := ParseCapture(f.Value, kind)
		if err != nil {
			d.ps.add(f.Pos, "%v", err)
			continue
		}
		c.Name, c.Pos = kv.key, f.Pos
		out = append(out, &c)
	}
	return out
}

func (d *decoder) expect(e *entry, st *Step, sc *scope) {
	t, ok := d.table(e)
	if !ok {
		return
	}
	x := &st.Expect
	x.Pos = t.pos
	valid := slices.Concat(expectKeys[st.Kind], commonExpect)
	if st.Kind == "" {
		// The action is missing or ambiguous: accept what any kind accepts.
		valid = slices.Concat(expectKeys[StepExec], expectKeys[StepSQL], expectKeys[StepRedis], expectKeys[StepHTTP], commonExpect)
	}
	for _, kv := range t.entries {
		if !slices.Contains(valid, kv.key) {
			var owners []string
			for _, k := range stepKinds {
				if slices.Contains(expectKeys[k], kv.key) {
					owners = append(owners, string(k))
				}
			}
			if len(owners) > 0 {
				d.ps.add(kv.keyPos, "expectation %q applies to %s steps, not to %s steps (which expect %s)", kv.key, strings.Join(owners, " and "), st.Kind, strings.Join(valid, ", "))
			} else {
				d.unknownKey(kv, valid)
			}
			continue
		}
		switch kv.key {
		case "exit_code":
			x.ExitCode, _ = d.intIn(kv, 0, 255)
		case "stdout":
			x.Stdout, _ = d.template(kv, sc)
		case "stderr":
			x.Stderr, _ = d.template(kv, sc)
		case "stdout_contains":
			x.StdoutContains, _ = d.templateList(kv, sc, true)
		case "stderr_contains":
			x.StderrContains, _ = d.templateList(kv, sc, true)
		case "stdout_matches":
			x.StdoutMatches, _ = d.regexp(kv)
		case "stderr_matches":
			x.StderrMatches, _ = d.regexp(kv)
		case "stdout_json":
			x.StdoutJSON = d.jsonChecks(kv, sc)
		case "rows":
			x.Rows = d.rows(kv, sc)
		case "row_count":
			x.RowCount, _ = d.intIn(kv, 0, math.MaxInt32)
		case "rows_affected":
			x.RowsAffected, _ = d.intIn(kv, 0, math.MaxInt32)
		case "error_contains":
			x.ErrorContains, _ = d.templateList(kv, sc, true)
		case "reply":
			if v, ok := d.literal(kv.val, sc); ok {
				x.Reply = Field[any]{Value: v, Pos: kv.val.pos}
			}
		case "status":
			x.Status, _ = d.intIn(kv, 100, 599)
		case "headers":
			x.Headers = d.headers(kv, sc)
		case "body":
			x.Body, _ = d.template(kv, sc)
		case "body_contains":
			x.BodyContains, _ = d.templateList(kv, sc, true)
		case "body_matches":
			x.BodyMatches, _ = d.regexp(kv)
		case "json":
			x.JSON = d.jsonChecks(kv, sc)
		case "max_duration":
			x.MaxDuration, _ = d.duration(kv)
		case "spans":
			x.Spans = d.spanChecks(kv, sc)
		}
	}
	if t.get("error_contains") != nil {
		what := map[StepKind]string{StepSQL: "statement", StepRedis: "command"}[st.Kind]
		for _, k := range []string{"rows", "row_count", "rows_affected", "reply"} {
			if kv := t.get(k); kv != nil && what != "" {
				d.ps.add(kv.keyPos, "expectation %q cannot hold with error_contains, which expects the %s to fail", k, what)
			}
		}
	}
}

func (d *decoder) rows(e *entry, sc *scope) Field[[][]any] {
	items, ok := d.array(e, kArray, "rows (arrays)")
	if !ok {
		return Field[[][]any]{}
	}
	rows := make([][]any, 0, len(items))
	for _, it := range items {
		v, _ := d.literal(it, sc)
		row, _ := v.([]any)
		rows = append(rows, row)
	}
	return Field[[][]any]{Value: rows, Pos: e.val.pos}
}

func (d *decoder) headers(e *entry, sc *scope) map[string]Template {
	m, _ := d.templateMap(e, sc)
	if e.val.kind != kTable {
		return nil
	}
	out := make(map[string]Template, len(m))
	for _, kv := range e.val.entries {
		t, ok := m[kv.key]
		if !ok {
			continue
		}
		name := textproto.CanonicalMIMEHeaderKey(kv.key)
		if _, dup := out[name]; dup {
			d.ps.add(kv.keyPos, "header %q is given twice (header names ignore case)", kv.key)
			continue
		}
		out[name] = t
	}
	return out
}

// jsonChecks reads a table of JSON path → expected value.
func (d *decoder) jsonChecks(e *entry, sc *scope) []JSONCheck {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	var out []JSONCheck
	for _, kv := range t.entries {
		if kv.dotted {
			d.ps.add(kv.keyPos, "quote JSON paths in %s: an unquoted dotted key is a nested TOML table; write \"%s\" = …", e.key, dottedKey(kv))
			continue
		}
		p, err := ParseJSONPath(kv.key)
		if err != nil {
			d.ps.add(kv.keyPos, "%s: %v", e.key, err)
			continue
		}
		v, ok := d.literal(kv.val, sc)
		if !ok {
			continue
		}
		out = append(out, JSONCheck{Path: p, Want: v, Pos: kv.keyPos})
	}
	return out
}

// dottedKey rebuilds a.b.c from the tables a dotted key made.
func dottedKey(e *entry) string {
	parts := []string{e.key}
	for v := e.val; v.kind == kTable && v.dotted && len(v.entries) == 1; {
		c := v.entries[0]
		parts = append(parts, c.key)
		v = c.val
	}
	return strings.Join(parts, ".")
}

// stepTarget checks the service (or image, or url) a step runs against.
func (d *decoder) stepTarget(n *node, st *Step) {
	var names []string
	for _, s := range d.s.Services {
		names = append(names, s.Name)
	}
	var rawHTTP *node
	if e := n.get("http"); e != nil && e.val.kind == kTable {
		rawHTTP = e.val
	}
	if st.Kind == StepHTTP && st.HTTP != nil && st.HTTP.Service.IsSet() {
		if st.Service.IsSet() {
			d.ps.add(st.HTTP.Service.Pos, "the step gives service and http.service: give one")
		} else {
			st.Service = st.HTTP.Service
		}
	}
	var svc *Service
	if st.Service.IsSet() {
		svc = d.s.Service(st.Service.Value)
		if svc == nil && !d.serviceNames[st.Service.Value] {
			d.unknownService(st.Service, names)
		}
	}
	kind := ""
	if svc != nil {
		kind = svc.Kind.Value
	}
	given := n.get("service") != nil || rawHTTP.get("service") != nil
	switch st.Kind {
	case StepExec:
		switch {
		case given && n.get("image") != nil:
			d.ps.add(n.get("image").keyPos, "an exec step runs in a service or in a one-shot container of an image, not both")
		case !given && n.get("image") == nil:
			d.ps.add(st.ExecPos, "exec needs a service to run in, or an image for a one-shot container")
		}
	case StepSQL, StepRedis:
		want := map[StepKind]string{StepSQL: KindPostgres, StepRedis: KindRedis}[st.Kind]
		switch {
		case !given:
			d.ps.add(n.get(string(st.Kind)).keyPos, "a %s step needs a service: the %s server to run against", st.Kind, want)
		case kind != "" && kind != want:
			d.ps.add(st.Service.Pos, "a %s step needs a %s service; %q is a %s service", st.Kind, want, svc.Name, kind)
		}
	case StepHTTP:
		if st.HTTP == nil {
			return
		}
		hasURL := rawHTTP.get("url") != nil
		switch {
		case !given && !hasURL:
			d.ps.add(st.HTTP.Pos, "http needs a service (http.service) or a url")
		case hasURL && n.get("service") != nil:
			d.ps.add(n.get("service").keyPos, "http gives both url and a service: a url names the whole target")
		case kind != "" && kind != KindGeneric:
			d.ps.add(st.Service.Pos, "an http step needs a generic service; %q is a %s service", svc.Name, kind)
		case svc != nil && kind == KindGeneric && !d.badPorts[svc.Name]:
			port, ports := st.HTTP.Port, svc.Ports.Value
			switch {
			case port.IsSet() && len(ports) == 0:
				d.ps.add(port.Pos, "port %d is not published: add ports = [%d] to service %q", port.Value, port.Value, svc.Name)
			case port.IsSet() && !slices.Contains(ports, port.Value):
				d.ps.add(port.Pos, "port %d is not one of service %q's ports %v: cleanroom reaches only the ports it publishes", port.Value, svc.Name, ports)
			case !port.IsSet() && len(ports) == 0:
				d.ps.add(st.Service.Pos, "service %q has no ports: give it ports = [...] to reach it over http", svc.Name)
			}
		}
	}
}

var spanKeys = []string{"name", "attributes", "parent", "count", "status", "before", "after", "no_attributes"}

// spanChecks reads expect.spans = [{ name = "GET /users", ... }]: spans the
// services sent to the environment's receiver while the step ran.
func (d *decoder) spanChecks(e *entry, sc *scope) []*SpanCheck {
	items, ok := d.tableArray(e, "expect.spans")
	if !ok {
		return nil
	}
	var out []*SpanCheck
	for _, n := range items {
		if n.kind != kTable {
			continue
		}
		c := &SpanCheck{Pos: n.pos}
		for _, kv := range n.entries {
			switch kv.key {
			case "name":
				c.Name, _ = d.nonEmpty(kv)
			case "parent":
				c.Parent, _ = d.nonEmpty(kv)
			case "before":
				c.Before, _ = d.nonEmpty(kv)
			case "after":
				c.After, _ = d.nonEmpty(kv)
			case "status":
				c.Status, _ = d.oneOf(kv, "ok", "error", "unset")
			case "count":
				c.Count, _ = d.intIn(kv, 0, math.MaxInt32)
			case "attributes":
				t, ok := d.table(kv)
				if !ok {
					continue
				}
				c.Attributes = map[string]Field[any]{}
				for _, a := range t.entries {
					if a.val.kind == kTable {
						// { http.route = "/x" } is TOML for a nested table.
						d.ps.add(a.keyPos, "span attribute %q is a table: quote dotted attribute names, as in { \"%s.…\" = … }", a.key, a.key)
						continue
					}
					if v, ok := d.literal(a.val, sc); ok {
						c.Attributes[a.key] = Field[any]{Value: v, Pos: a.val.pos}
					}
				}
			case "no_attributes":
				if list, ok := d.strList(kv); ok {
					for _, f := range list {
						c.NoAttributes = append(c.NoAttributes, f.Value)
					}
				}
			default:
				d.unknownKey(kv, spanKeys)
			}
		}
		if !c.Name.IsSet() && n.get("name") == nil {
			d.ps.add(n.pos, "a span expectation needs name (the span's name)")
			continue
		}
		out = append(out, c)
	}
	return out
}
