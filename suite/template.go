package suite

import (
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"text/template"
	"text/template/parse"
)

// Template is a string of the suite file that may hold Go text/template
// actions. It is parsed and checked at load time: every .vars.NAME it uses
// is defined, every .services.NAME exists. The zero Template is "not given".
type Template struct {
	Text string
	Pos  Pos
	tmpl *template.Template // nil when Text has no action
	// seeded: it calls a function of the seed or the clock (funcs.go),
	// which each rendering binds afresh.
	seeded bool
}

// IsSet reports whether the file gave the string.
func (t Template) IsSet() bool { return t.Pos.IsValid() }

// IsStatic reports whether the string has no template action, so Text is
// its value.
func (t Template) IsStatic() bool { return t.tmpl == nil }

// String returns the text as written.
func (t Template) String() string { return t.Text }

// Render executes the template with data (see TemplateData). A key missing
// from data is an error, never an empty string.
func (t Template) Render(data map[string]any) (string, error) {
	if t.tmpl == nil {
		return t.Text, nil
	}
	tmpl := t.tmpl
	if t.seeded {
		var err error
		if tmpl, err = bind(tmpl, data); err != nil {
			return "", fmt.Errorf("%s: template %q: %w", t.Pos, t.Text, err)
		}
	}
	var b strings.Builder
	if err := tmpl.Execute(&b, data); err != nil {
		return "", fmt.Errorf("%s: template %q: %s", t.Pos, t.Text, templateMessage(err))
	}
	return b.String(), nil
}

// RenderAll renders each template of a list (an argv).
func RenderAll(ts []Template, data map[string]any) ([]string, error) {
	out := make([]string, len(ts))
	for i, t := range ts {
		s, err := t.Render(data)
		if err != nil {
			return nil, err
		}
		out[i] = s
	}
	return out, nil
}

// RenderMap renders the values of a map of templates (env, headers).
func RenderMap(m map[string]Template, data map[string]any) (map[string]string, error) {
	out := make(map[string]string, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		s, err := m[k].Render(data)
		if err != nil {
			return nil, err
		}
		out[k] = s
	}
	return out, nil
}

// A Literal is a value of the suite file that is compared or sent as data
// (expected rows, a redis reply, JSON values): nil, bool, int64, float64,
// Template (strings), []any or map[string]any of Literals.

// RenderLiteral replaces the Templates of a Literal by their rendered
// strings, giving plain Go values (string, int64, float64, bool, []any,
// map[string]any).
func RenderLiteral(v any, data map[string]any) (any, error) {
	switch v := v.(type) {
	case Template:
		return v.Render(data)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			r, err := RenderLiteral(e, data)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(v))
		for _, k := range slices.Sorted(maps.Keys(v)) {
			r, err := RenderLiteral(v[k], data)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

// Endpoints are a started service's addresses as templates see them under
// .services.NAME.
type Endpoints struct {
	Host        string // where the runner reaches the primary port
	Port        int
	URL         string // kind-specific URL for the runner
	Address     string // "name:port", as other services reach it
	InternalURL string // URL as other services reach it
}

// ServiceFields are the fields of .services.NAME.
var serviceFields = []string{"host", "port", "url", "address", "internal_url"}

// TemplateData builds the data templates execute with: .vars (the suite's
// vars and the values captured so far), .services and .seed.
func TemplateData(vars map[string]any, services map[string]Endpoints, seed int64) map[string]any {
	svcs := make(map[string]any, len(services))
	for name, e := range services {
		svcs[name] = map[string]any{
			"host":         e.Host,
			"port":         e.Port,
			"url":          e.URL,
			"address":      e.Address,
			"internal_url": e.InternalURL,
		}
	}
	if vars == nil {
		vars = map[string]any{}
	}
	return map[string]any{"vars": vars, "services": svcs, "seed": seed}
}

// scope is what a template may refer to where it is written.
type scope struct {
	vars map[string]bool // [vars] and the captures of earlier steps
	// scalars are the names of vars that hold a plain value ([vars] not
	// captured since): they have no fields. A capture may hold a JSON object.
	scalars map[string]bool
	// later: captured by this or a later step of the scenario, for a
	// better message; name → why it is not available yet
	later map[string]string
	// services the template may use (all of the suite's for a step, the
	// dependencies for a service), and all of them for messages.
	services    map[string]bool
	allServices map[string]bool
	// serviceHint names the service whose fields these are, for messages;
	// self is its name (a service cannot refer to itself).
	serviceHint string
	self        string
}

// compileTemplate parses text when it holds an action and checks what it
// refers to. Errors are appended to ps.
func compileTemplate(text string, pos Pos, sc *scope, ps *problems) Template {
	t := Template{Text: text, Pos: pos}
	if !strings.Contains(text, "{{") {
		return t
	}
	tmpl, err := template.New("t").Funcs(parseFuncs).Option("missingkey=error").Parse(text)
	if err != nil {
		msg := templateMessage(err)
		if m := undefinedFuncRE.FindStringSubmatch(msg); m != nil {
			if s := suggest(m[1], funcNames); s != "" {
				msg += fmt.Sprintf(" — did you mean %s?", s)
			} else {
				msg += " (cleanroom adds " + strings.Join(funcNames, ", ") + ")"
			}
		}
		ps.add(pos, "template: %s", msg)
		return t
	}
	if len(tmpl.Templates()) > 1 {
		ps.add(pos, "template: {{define}} and {{block}} are not supported in suite files")
		return t
	}
	t.tmpl = tmpl
	c := &refChecker{sc: sc, pos: pos, ps: ps}
	if tmpl.Tree != nil {
		c.walk(tmpl.Tree.Root, true)
		t.seeded = callsSeeded(tmpl.Tree.Root)
	}
	return t
}

// callsSeeded reports whether a template calls a function of funcs.go.
func callsSeeded(n parse.Node) bool {
	found := false
	var walk func(parse.Node)
	walk = func(n parse.Node) {
		if found || n == nil {
			return
		}
		switch n := n.(type) {
		case *parse.IdentifierNode:
			found = slices.Contains(funcNames, n.Ident)
		case *parse.ListNode:
			if n != nil {
				for _, c := range n.Nodes {
					walk(c)
				}
			}
		case *parse.ActionNode:
			walk(n.Pipe)
		case *parse.PipeNode:
			if n != nil {
				for _, c := range n.Cmds {
					walk(c)
				}
			}
		case *parse.CommandNode:
			for _, a := range n.Args {
				walk(a)
			}
		case *parse.IfNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.RangeNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.WithNode:
			walk(n.Pipe)
			walk(n.List)
			walk(n.ElseList)
		case *parse.ChainNode:
			walk(n.Node)
		}
	}
	walk(n)
	return found
}

var undefinedFuncRE = regexp.MustCompile(`function "([^"]+)" not defined`)

// templateMessage strips text/template's "template: t:1:5: " prefix: the
// position of the string is reported instead.
func templateMessage(err error) string {
	msg := err.Error()
	msg = strings.TrimPrefix(msg, "template: ")
	if rest, ok := strings.CutPrefix(msg, "t:"); ok {
		// "1:5: executing ..." or "1: function ..."
		for range 2 {
			i := strings.IndexByte(rest, ':')
			if i <= 0 || strings.Trim(rest[:i], "0123456789") != "" {
				break
			}
			rest = rest[i+1:]
		}
		msg = strings.TrimSpace(rest)
	}
	msg = strings.TrimPrefix(msg, `executing "t" at `)
	return msg
}

type refChecker struct {
	sc  *scope
	pos Pos
	ps  *problems
}

// walk checks the references of n; rootDot says whether "." is still the
// template data (inside range and with it is something else).
func (c *refChecker) walk(n parse.Node, rootDot bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, x := range n.Nodes {
			c.walk(x, rootDot)
		}
	case *parse.ActionNode:
		c.walk(n.Pipe, rootDot)
	case *parse.IfNode:
		c.branch(&n.BranchNode, rootDot, rootDot)
	case *parse.RangeNode:
		c.branch(&n.BranchNode, rootDot, false)
	case *parse.WithNode:
		c.branch(&n.BranchNode, rootDot, false)
	case *parse.TemplateNode:
		c.ps.add(c.pos, "template: {{template}} is not supported in suite files")
	case *parse.PipeNode:
		if n == nil {
			return
		}
		for _, cmd := range n.Cmds {
			c.walk(cmd, rootDot)
		}
	case *parse.CommandNode:
		c.command(n, rootDot)
	case *parse.FieldNode:
		if rootDot {
			c.fields(n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 0 && n.Ident[0] == "$" {
			c.fields(n.Ident[1:])
		}
	case *parse.ChainNode:
		switch inner := n.Node.(type) {
		case *parse.FieldNode:
			if rootDot {
				c.fields(append(slices.Clone(inner.Ident), n.Field...))
			}
		case *parse.VariableNode:
			if len(inner.Ident) > 0 && inner.Ident[0] == "$" {
				c.fields(append(slices.Clone(inner.Ident[1:]), n.Field...))
			}
		case *parse.DotNode:
			if rootDot {
				c.fields(n.Field)
			}
		default:
			c.walk(n.Node, rootDot)
		}
	}
}

func (c *refChecker) branch(b *parse.BranchNode, rootDot, bodyRootDot bool) {
	c.walk(b.Pipe, rootDot)
	c.walk(b.List, bodyRootDot)
	c.walk(b.ElseList, rootDot)
}

// command checks the arguments of a command, and "index .vars "x"" calls
// with constant keys as if they were fields.
func (c *refChecker) command(n *parse.CommandNode, rootDot bool) {
	if len(n.Args) >= 3 {
		if id, ok := n.Args[0].(*parse.IdentifierNode); ok && id.Ident == "index" {
			if base := c.rootFields(n.Args[1], rootDot); base != nil {
				path := base
				for _, a := range n.Args[2:] {
					s, ok := a.(*parse.StringNode)
					if !ok {
						path = nil
						break
					}
					path = append(path, s.Text)
				}
				if path != nil {
					c.fields(path)
					return
				}
			}
		}
	}
	for _, a := range n.Args {
		c.walk(a, rootDot)
	}
}

// rootFields returns the field path of n when n is a reference into the
// template data (.a.b or $.a.b), nil otherwise.
func (c *refChecker) rootFields(n parse.Node, rootDot bool) []string {
	switch n := n.(type) {
	case *parse.FieldNode:
		if rootDot {
			return slices.Clone(n.Ident)
		}
	case *parse.VariableNode:
		if len(n.Ident) > 1 && n.Ident[0] == "$" {
			return slices.Clone(n.Ident[1:])
		}
	}
	return nil
}

// fields checks a path into the template data: vars.NAME,
// services.NAME.FIELD, seed.
func (c *refChecker) fields(path []string) {
	if len(path) == 0 {
		return
	}
	switch path[0] {
	case "vars":
		if len(path) < 2 {
			return
		}
		name := path[1]
		if c.sc.vars[name] {
			if len(path) > 2 && c.sc.scalars[name] {
				c.ps.add(c.pos, "template: .vars.%s is a plain value and has no field %s", name, path[2])
			}
			return
		}
		msg := fmt.Sprintf("template uses undefined variable .vars.%s", name)
		if why, ok := c.sc.later[name]; ok {
			msg += " (" + why + ")"
		} else if s := suggest(name, slices.Collect(maps.Keys(c.sc.vars))); s != "" {
			msg += fmt.Sprintf(" — did you mean .vars.%s?", s)
		} else {
			msg += " (define it in [vars] or capture it in an earlier step)"
		}
		c.ps.add(c.pos, "%s", msg)
	case "services":
		if len(path) < 2 {
			return
		}
		name := path[1]
		switch {
		case !c.sc.allServices[name]:
			msg := fmt.Sprintf("template uses undefined service .services.%s", name)
			if s := suggest(name, slices.Collect(maps.Keys(c.sc.allServices))); s != "" {
				msg += fmt.Sprintf(" — did you mean .services.%s?", s)
			}
			c.ps.add(c.pos, "%s", msg)
			return
		case name == c.sc.self:
			c.ps.add(c.pos, "template uses .services.%s in %s itself: its address is not known before it starts", name, c.sc.serviceHint)
			return
		case !c.sc.services[name]:
			c.ps.add(c.pos, "template uses .services.%s, but %s does not depend on it: add %q to depends_on", name, c.sc.serviceHint, name)
			return
		}
		if len(path) < 3 {
			return
		}
		field := path[2]
		if !slices.Contains(serviceFields, field) {
			msg := fmt.Sprintf("service field .services.%s.%s does not exist", name, field)
			if s := suggest(field, serviceFields); s != "" {
				msg += fmt.Sprintf(" — did you mean .%s?", s)
			} else {
				msg += " (a service has " + strings.Join(serviceFields, ", ") + ")"
			}
			c.ps.add(c.pos, "%s", msg)
			return
		}
		if len(path) > 3 {
			c.ps.add(c.pos, "template: .services.%s.%s has no field %s", name, field, path[3])
		}
	case "seed":
		if len(path) > 1 {
			c.ps.add(c.pos, "template: .seed is a number and has no field %s", path[1])
		}
	default:
		msg := fmt.Sprintf("template uses undefined field .%s", path[0])
		if s := suggest(path[0], []string{"vars", "services", "seed"}); s != "" {
			msg += fmt.Sprintf(" — did you mean .%s?", s)
		} else {
			msg += " (templates see .vars, .services and .seed)"
		}
		c.ps.add(c.pos, "%s", msg)
	}
}
