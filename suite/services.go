package suite

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var (
	serviceKeys = []string{"type", "image", "build", "database", "user", "password", "init_sql", "init_files", "env", "entrypoint", "command", "ports", "files", "depends_on", "wait", "restart", "max_restarts", "policy", "artifacts", "collect", "coverage"}
	buildKeys   = []string{"context", "dockerfile", "args", "keep"}
	waitKeys    = []string{"http", "port", "status", "timeout", "log", "exec"}

	kinds    = []string{KindPostgres, KindRedis, KindGeneric}
	kindKeys = map[string][]string{
		KindPostgres: {"type", "image", "env", "depends_on", "policy", "database", "user", "password", "init_sql", "init_files", "artifacts", "collect"},
		KindRedis:    {"type", "image", "env", "depends_on", "policy", "artifacts", "collect"},
		KindGeneric:  {"type", "image", "build", "env", "entrypoint", "command", "ports", "files", "depends_on", "wait", "restart", "max_restarts", "policy", "artifacts", "collect", "coverage"},
	}

	// serviceNameRE is service.Spec's rule: the name becomes a host name.
	serviceNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)
)

// services decodes [services.*].
func (d *decoder) services(e *entry) {
	t, ok := d.table(e)
	if !ok {
		return
	}
	// First look: names and dependencies.
	for _, se := range t.entries {
		d.serviceNames[se.key] = true
		if dep := se.val.get("depends_on"); dep != nil && dep.val.kind == kArray {
			for _, it := range dep.val.items {
				if it.kind == kString {
					d.rawDeps[se.key] = append(d.rawDeps[se.key], it.str)
				}
			}
		}
	}
	for _, se := range t.entries {
		if svc := d.service(se); svc != nil {
			d.s.Services = append(d.s.Services, svc)
		}
	}
}

// dependencies returns every service name reaches through depends_on.
func (d *decoder) dependencies(name string) map[string]bool {
	out := map[string]bool{}
	todo := slices.Clone(d.rawDeps[name])
	for len(todo) > 0 {
		n := todo[len(todo)-1]
		todo = todo[:len(todo)-1]
		if out[n] || n == name {
			continue
		}
		out[n] = true
		todo = append(todo, d.rawDeps[n]...)
	}
	return out
}

func (d *decoder) service(e *entry) *Service {
	svc := &Service{Name: e.key, Pos: e.val.pos, Restart: Field[string]{Value: RestartPerSuite}, MaxRestarts: Field[int]{Value: DefaultMaxRestarts}, Collect: Field[string]{Value: CollectOnFailure}}
	if !serviceNameRE.MatchString(e.key) {
		d.ps.add(e.keyPos, "service name %q must be 1-63 lowercase letters, digits, '-' or '_', starting with a letter or digit (it becomes a host name)", e.key)
	}
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	valid := serviceKeys
	if te := t.get("type"); te == nil {
		d.ps.add(t.pos, "service %q has no type: add type = \"postgres\", \"redis\" or \"generic\"", e.key)
	} else if f, ok := d.str(te); ok {
		if slices.Contains(kinds, f.Value) {
			svc.Kind = f
			valid = kindKeys[f.Value]
		} else {
			msg := fmt.Sprintf("unknown service type %q", f.Value)
			if s := suggest(f.Value, kinds); s != "" {
				msg += fmt.Sprintf(" — did you mean %q?", s)
			} else {
				msg += " — want postgres, redis or generic"
			}
			d.ps.add(f.Pos, "%s", msg)
		}
	}
	sc := &scope{vars: d.varSet(), scalars: d.varSet(), services: d.dependencies(e.key), allServices: d.serviceNames, serviceHint: fmt.Sprintf("service %q", e.key), self: e.key}
	for _, kv := range t.entries {
		if !slices.Contains(valid, kv.key) {
			if slices.Contains(serviceKeys, kv.key) {
				d.wrongKindKey(kv, svc.Kind.Value)
			} else {
				d.unknownKey(kv, valid)
			}
			continue
		}
		switch kv.key {
		case "type":
		case "image":
			svc.Image, _ = d.nonEmpty(kv)
		case "build":
			svc.Build = d.build(kv)
		case "database":
			svc.Database, _ = d.nonEmpty(kv)
		case "user":
			svc.User, _ = d.nonEmpty(kv)
		case "password":
			svc.Password, _ = d.str(kv)
		case "init_sql":
			svc.InitSQL, _ = d.templateList(kv, sc, true)
		case "init_files":
			list, _ := d.strList(kv)
			for _, f := range list {
				if !strings.HasSuffix(f.Value, ".sql") && !strings.HasSuffix(f.Value, ".sql.gz") && !strings.HasSuffix(f.Value, ".sh") {
					d.ps.add(f.Pos, "init file %q must end in .sql, .sql.gz or .sh (the /docker-entrypoint-initdb.d convention)", f.Value)
				}
				svc.InitFiles = append(svc.InitFiles, d.hostPath(f, kv.key, false))
			}
		case "env":
			svc.Env, _ = d.env(kv, sc)
		case "entrypoint":
			svc.Entrypoint, _ = d.argv(kv, sc)
		case "command":
			svc.Command, _ = d.argv(kv, sc)
		case "ports":
			svc.Ports = d.ports(kv)
			if !svc.Ports.IsSet() {
				d.badPorts[svc.Name] = true
			}
		case "files":
			svc.Files = d.files(kv)
		case "depends_on":
			svc.DependsOn, _ = d.strList(kv)
		case "wait":
			svc.Wait = d.wait(kv, sc)
		case "restart":
			if f, ok := d.oneOf(kv, RestartPerSuite, RestartPerScenario, RestartOnFailure); ok {
				svc.Restart = f
			}
		case "max_restarts":
			svc.MaxRestarts, _ = d.intIn(kv, 0, 100)
		case "policy":
			svc.Policy = d.policy(kv, policyService)
		case "artifacts":
			if list, ok := d.strList(kv); ok {
				for _, f := range list {
					if d.containerPath(f.Value, f.Pos) {
						svc.Artifacts = append(svc.Artifacts, f)
					}
				}
			}
		case "coverage":
			svc.Coverage, _ = d.bool(kv)
		case "collect":
			if f, ok := d.oneOf(kv, CollectOnFailure, CollectAlways); ok {
				svc.Collect = f
			}
		}
	}
	if svc.Kind.Value == KindGeneric {
		switch {
		case t.get("image") != nil && t.get("build") != nil:
			d.ps.add(t.get("build").keyPos, "service %q gives both image and build: give one", svc.Name)
		case t.get("image") == nil && t.get("build") == nil && t.get("command") == nil:
			// A command alone is a program of this machine, which the
			// local backend runs (runner.CheckBackend says so elsewhere).
			d.ps.add(t.pos, "service %q needs an image, a build, or (on the local backend) a command", svc.Name)
		}
	}
	if svc.MaxRestarts.IsSet() && svc.Restart.Value != RestartOnFailure {
		d.ps.add(svc.MaxRestarts.Pos, "max_restarts applies to restart = %q, and service %q restarts %s", RestartOnFailure, svc.Name, svc.Restart.Value)
	}
	if w := svc.Wait; w != nil && !d.badPorts[svc.Name] {
		ports := svc.Ports.Value
		switch {
		case w.Port.IsSet() && len(ports) == 0:
			d.ps.add(w.Port.Pos, "wait.port %d is not published: add ports = [%d] to the service", w.Port.Value, w.Port.Value)
		case w.Port.IsSet() && !slices.Contains(ports, w.Port.Value):
			d.ps.add(w.Port.Pos, "wait.port %d is not one of the service's ports %v: cleanroom reaches only the ports it publishes", w.Port.Value, ports)
		case w.HTTP.IsSet() && !w.Port.IsSet() && len(ports) == 0:
			d.ps.add(w.HTTP.Pos, "wait.http needs a port: give the service ports = [...]")
		}
	}
	return svc
}

// wrongKindKey reports a service key that exists, but for another kind.
func (d *decoder) wrongKindKey(kv *entry, kind string) {
	var owners []string
	for _, k := range kinds {
		if slices.Contains(kindKeys[k], kv.key) {
			owners = append(owners, k)
		}
	}
	msg := fmt.Sprintf("%q applies to %s services only, not to %s services", kv.key, strings.Join(owners, " and "), kind)
	if kv.key == "wait" {
		msg += " (they have built-in readiness checks)"
	}
	d.ps.add(kv.keyPos, "%s", msg)
}

// env reads an environment table.
func (d *decoder) env(e *entry, sc *scope) (map[string]Template, bool) {
	m, ok := d.templateMap(e, sc)
	if e.val.kind == kTable {
		for _, kv := range e.val.entries {
			if kv.key == "" || strings.ContainsAny(kv.key, "=\x00") {
				d.ps.add(kv.keyPos, "%q is not an environment variable name", kv.key)
				ok = false
			}
		}
	}
	return m, ok
}

// hostPath resolves a path of the suite file and checks that it exists, as
// a directory when dir.
func (d *decoder) hostPath(f Field[string], key string, dir bool) HostPath {
	p := HostPath{Value: f.Value, Pos: f.Pos, Abs: f.Value}
	if !filepath.IsAbs(p.Abs) {
		p.Abs = filepath.Join(d.s.Dir, f.Value)
	}
	st, err := os.Stat(p.Abs)
	switch {
	case err != nil:
		d.ps.add(f.Pos, "%s: %q does not exist (paths are relative to the suite file)", key, f.Value)
	case dir && !st.IsDir():
		d.ps.add(f.Pos, "%s: %q is not a directory", key, f.Value)
	case !dir && !st.Mode().IsRegular():
		d.ps.add(f.Pos, "%s: %q is not a regular file", key, f.Value)
	}
	return p
}

func (d *decoder) ports(e *entry) Field[[]int] {
	items, ok := d.array(e, kInt, "integers")
	if !ok {
		return Field[[]int]{}
	}
	var ports []int
	for _, it := range items {
		switch {
		case it.i < 1 || it.i > 65535:
			d.ps.add(it.pos, "port %d is not a TCP port (1-65535)", it.i)
		case slices.Contains(ports, int(it.i)):
			d.ps.add(it.pos, "port %d is listed twice", it.i)
		default:
			ports = append(ports, int(it.i))
		}
	}
	return Field[[]int]{Value: ports, Pos: e.val.pos}
}

func (d *decoder) files(e *entry) []File {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	var out []File
	for _, kv := range t.entries {
		if kv.dotted {
			d.ps.add(kv.keyPos, "quote file destinations: write \"/path/in/container\" = \"host/path\"")
			continue
		}
		if !strings.HasPrefix(kv.key, "/") {
			d.ps.add(kv.keyPos, "file destination %q must be an absolute path in the container", kv.key)
		}
		f, ok := d.nonEmpty(kv)
		if !ok {
			continue
		}
		out = append(out, File{Dest: kv.key, Source: d.hostPath(f, "files", false), Pos: kv.keyPos})
	}
	return out
}

func (d *decoder) build(e *entry) *Build {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	b := &Build{Pos: t.pos, Dockerfile: Field[string]{Value: DefaultDockerfile}}
	for _, kv := range t.entries {
		switch kv.key {
		case "context":
			if f, ok := d.nonEmpty(kv); ok {
				b.Context = d.hostPath(f, "build.context", true)
			}
		case "dockerfile":
			if f, ok := d.nonEmpty(kv); ok {
				b.Dockerfile = f
			}
		case "args":
			t, ok := d.table(kv)
			if !ok {
				continue
			}
			b.Args = map[string]string{}
			for _, a := range t.entries {
				if f, ok := d.str(a); ok {
					b.Args[a.key] = f.Value
				}
			}
		case "keep":
			b.Keep, _ = d.bool(kv)
		default:
			d.unknownKey(kv, buildKeys)
		}
	}
	if t.get("context") == nil {
		d.ps.add(t.pos, "build needs a context: the directory to build, relative to the suite file")
		return b
	}
	if st, err := os.Stat(b.Context.Abs); b.Context.Abs != "" && err == nil && st.IsDir() {
		df := b.Dockerfile.Value
		if !filepath.IsAbs(df) {
			df = filepath.Join(b.Context.Abs, df)
		}
		if _, err := os.Stat(df); err != nil {
			pos := b.Context.Pos
			if b.Dockerfile.IsSet() {
				pos = b.Dockerfile.Pos
			}
			d.ps.add(pos, "build: no %s in %q", b.Dockerfile.Value, b.Context.Value)
		}
	}
	return b
}

func (d *decoder) wait(e *entry, sc *scope) *Wait {
	t, ok := d.table(e)
	if !ok {
		return nil
	}
	w := &Wait{Pos: t.pos, Status: Field[int]{Value: 200}, Timeout: Field[time.Duration]{Value: DefaultWaitTimeout}}
	for _, kv := range t.entries {
		switch kv.key {
		case "http":
			if f, ok := d.str(kv); ok {
				if !strings.HasPrefix(f.Value, "/") {
					d.ps.add(f.Pos, "wait.http must be a path starting with \"/\", got %q", f.Value)
				} else {
					w.HTTP = f
				}
			}
		case "port":
			w.Port, _ = d.intIn(kv, 1, 65535)
		case "status":
			if f, ok := d.intIn(kv, 100, 599); ok {
				w.Status = f
			}
		case "timeout":
			if f, ok := d.duration(kv); ok {
				w.Timeout = f
			}
		case "log":
			w.Log, _ = d.regexp(kv)
		case "exec":
			w.Exec, _ = d.argv(kv, sc)
			w.ExecPos = kv.val.pos
		default:
			d.unknownKey(kv, waitKeys)
		}
	}
	if t.get("http") == nil && t.get("port") == nil && t.get("log") == nil && t.get("exec") == nil {
		d.ps.add(t.pos, "wait has no check: give http, port, log or exec")
	}
	if se := t.get("status"); se != nil && t.get("http") == nil {
		d.ps.add(se.keyPos, "wait.status applies to the http check: give wait.http too")
	}
	return w
}

// checkGraph checks depends_on: known services, no self-dependency, no
// cycle.
func (d *decoder) checkGraph() {
	var names []string
	for _, svc := range d.s.Services {
		names = append(names, svc.Name)
	}
	for _, svc := range d.s.Services {
		seen := map[string]bool{}
		for _, dep := range svc.DependsOn {
			switch {
			case dep.Value == svc.Name:
				d.ps.add(dep.Pos, "service %q depends on itself", svc.Name)
			case d.s.Service(dep.Value) == nil:
				if !d.serviceNames[dep.Value] {
					d.unknownService(dep, names)
				}
			case seen[dep.Value]:
				d.ps.add(dep.Pos, "%q is listed twice in depends_on", dep.Value)
			}
			seen[dep.Value] = true
		}
	}
	state := map[string]int{} // 1 visiting, 2 done
	var stack []string
	var visit func(svc *Service)
	visit = func(svc *Service) {
		state[svc.Name] = 1
		stack = append(stack, svc.Name)
		for _, dep := range svc.DependsOn {
			next := d.s.Service(dep.Value)
			if next == nil || next == svc {
				continue
			}
			switch state[next.Name] {
			case 0:
				visit(next)
			case 1:
				i := slices.Index(stack, next.Name)
				cycle := append(slices.Clone(stack[i:]), next.Name)
				d.ps.add(dep.Pos, "dependency cycle: %s", strings.Join(cycle, " → "))
			}
		}
		stack = stack[:len(stack)-1]
		state[svc.Name] = 2
	}
	for _, svc := range d.s.Services {
		if state[svc.Name] == 0 {
			visit(svc)
		}
	}
}

func (d *decoder) unknownService(f Field[string], names []string) {
	msg := fmt.Sprintf("unknown service %q", f.Value)
	switch s := suggest(f.Value, names); {
	case s != "":
		msg += fmt.Sprintf(" — did you mean %q?", s)
	case len(names) == 0:
		msg += " — the suite declares no services"
	default:
		quoted := make([]string, len(names))
		for i, n := range names {
			quoted[i] = strconv.Quote(n)
		}
		msg += " — the suite declares " + strings.Join(quoted, ", ")
	}
	d.ps.add(f.Pos, "%s", msg)
}

// StartOrder returns the services in the order they start: each group only
// depends on services of earlier groups, and the services of one group may
// start in parallel.
func (s *Suite) StartOrder() [][]*Service {
	level := map[string]int{}
	var depth func(svc *Service, seen map[string]bool) int
	depth = func(svc *Service, seen map[string]bool) int {
		if l, ok := level[svc.Name]; ok {
			return l
		}
		if seen[svc.Name] { // a cycle: a loaded suite has none
			return 0
		}
		seen[svc.Name] = true
		l := 0
		for _, dep := range svc.DependsOn {
			if next := s.Service(dep.Value); next != nil && next != svc {
				l = max(l, depth(next, seen)+1)
			}
		}
		level[svc.Name] = l
		return l
	}
	var out [][]*Service
	for _, svc := range s.Services {
		l := depth(svc, map[string]bool{})
		for len(out) <= l {
			out = append(out, nil)
		}
		out[l] = append(out[l], svc)
	}
	return out
}
