package redact_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/redact"
	"github.com/cleanroomhq/cleanroom/report"
)

const secret = "hunter2"

type name string

func TestWalkNaNKey(t *testing.T) {
	r := mustNew(t, []string{secret}, nil)
	v := struct{ M map[any]any }{map[any]any{math.NaN(): secret, math.NaN(): "x"}}
	r.Walk(&v)
	got := v.M
	var vals []string
	for _, v := range got {
		vals = append(vals, v.(string))
	}
	slices.Sort(vals)
	if !slices.Equal(vals, []string{"[REDACTED]", "x"}) {
		t.Errorf("got %v", got)
	}
}

// Two keys that redact to the same text are both kept: the first in the
// order of the original keys under the redacted key, the next numbered.
func TestMapKeyCollisions(t *testing.T) {
	r := mustNew(t, []string{"alpha-secret", "beta-secret"}, nil)
	tests := []struct {
		name string
		in   func() map[string]any
		want map[string]any
	}{
		{
			"two secrets",
			func() map[string]any {
				return map[string]any{"token-beta-secret": 2.0, "token-alpha-secret": 1.0, "other": 0.0}
			},
			map[string]any{"token-[REDACTED]": 1.0, "token-[REDACTED] (2)": 2.0, "other": 0.0},
		},
		{
			"a key that already reads as redacted",
			func() map[string]any {
				return map[string]any{"[REDACTED]": "a", "alpha-secret": "b", "[REDACTED] (2)": "c"}
			},
			map[string]any{"[REDACTED]": "a", "[REDACTED] (2)": "c", "[REDACTED] (3)": "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/Walk", func(t *testing.T) {
			v := struct{ M map[string]any }{tt.in()}
			r.Walk(&v)
			if !reflect.DeepEqual(v.M, tt.want) {
				t.Errorf("got %v\nwant %v", v.M, tt.want)
			}
		})
	}
}

// The report as the runner fills it, with the secret in every kind of
// place, must not show it in any format once walked.
func TestWalkReport(t *testing.T) {
	const pw = `s3cr<"t>&pw`
	r := mustNew(t, []string{pw}, []string{`ghp_[A-Za-z0-9]{8}`})
	exit := 1
	with := func(s string) string { return "before " + s + " after" }
	quoted, _ := json.Marshal(pw) // "s3cr\u003c\"t\u003e\u0026pw"
	run := &report.Run{
		Cleanroom: "v0.1.0",
		Backend:   with(pw),
		Suites: []*report.Suite{{
			Name: with(pw), File: with(pw), Session: with(pw), Status: report.Failed, Error: with(pw),
			Services: []*report.Service{{Name: "db", Kind: "postgres", Image: with(pw), Address: with(pw)}},
			Scenarios: []*report.Scenario{{
				Name: with(pw), Status: report.Failed, Error: with(pw),
				Steps: []*report.Step{
					{
						Name: with(pw), Kind: "sql", Service: "db", Status: report.Failed, Error: with(pw), Pos: with(pw),
						Output: &report.Output{
							Rows: [][]any{
								{int64(1), pw, []byte(pw), []byte("\xff" + pw)},
								{map[string]any{pw: []any{pw}}, json.RawMessage(quoted), struct{ Note string }{with(pw)}},
							},
						},
						Failures: []*report.Failure{{Check: "rows", Expected: with(pw), Got: with(pw), Diff: with(pw), Pos: with(pw)}},
						Captured: map[string]string{pw: with(pw)},
					},
					{
						Name: "get", Kind: "redis", Status: report.Passed,
						Output: &report.Output{Reply: []any{"OK", []any{pw, []any{[]byte(pw)}}, map[string]any{pw: pw, "t": "ghp_abcd1234"}}},
					},
					{
						Name: "page", Kind: "http", Status: report.Passed,
						Output: &report.Output{
							Status:  200,
							Headers: map[string]string{"X-" + pw: with(pw), "Authorization": "token ghp_abcd1234"},
							Body:    with(pw),
						},
					},
					{
						Name: "exec", Kind: "exec", Status: report.Failed,
						Output: &report.Output{ExitCode: &exit, Stdout: with(pw), Stderr: with(pw)},
					},
				},
			}},
		}},
	}
	run.Tally()
	r.Walk(run)

	var jsonOut, junitOut bytes.Buffer
	if err := report.WriteJSON(&jsonOut, run); err != nil {
		t.Fatal(err)
	}
	if err := report.WriteJUnit(&junitOut, run); err != nil {
		t.Fatal(err)
	}
	marshaled, err := json.Marshal(run)
	if err != nil {
		t.Fatal(err)
	}
	forms := []string{pw, `s3cr\u003c\"t\u003e\u0026pw`, `s3cr<\"t>&pw`, `s3cr&lt;&#34;t&gt;&amp;pw`, "ghp_abcd1234", "s3cr"}
	for format, out := range map[string]string{"WriteJSON": jsonOut.String(), "WriteJUnit": junitOut.String(), "json.Marshal": string(marshaled)} {
		for _, f := range forms {
			if i := strings.Index(out, f); i >= 0 {
				t.Errorf("%s shows %q: …%s…", format, f, out[max(0, i-60):min(len(out), i+60)])
			}
		}
		if !strings.Contains(out, "before [REDACTED] after") {
			t.Errorf("%s shows no redacted text at all", format)
		}
	}
	if run.Suites[0].Services[0].Name != "db" || run.Suites[0].Scenarios[0].Steps[2].Output.Status != 200 {
		t.Error("Walk changed what had nothing secret")
	}
}

type inner struct{ Exported, unexported string }

type node struct {
	S       string
	N       name
	B       []byte
	Raw     json.RawMessage
	P       *string
	PP      **string
	Arr     [2]string
	Strs    []string
	Any     any
	AnyB    any
	AnyS    any
	AnyArr  any
	AnyP    any
	M       map[string]string
	MA      map[any]any
	MP      map[string]*node
	Next    *node
	List    []any
	F       map[float64]string
	private string
	labels
	inner
	*Inner
}

type Inner struct{ Deep string }

// labels is embedded and unexported, and not a struct: encoding/json
// skips it, and so does Walk.
type labels map[string]string

func TestWalk(t *testing.T) {
	r := mustNew(t, []string{secret}, nil)
	p := secret
	pp := &p
	n := &node{
		S: secret, N: secret, B: []byte(secret), Raw: json.RawMessage(`"` + secret + `"`),
		P: &p, PP: &pp,
		Arr: [2]string{secret, "x"}, Strs: []string{secret},
		Any: secret, AnyB: []byte(secret), AnyS: inner{Exported: secret, unexported: secret},
		AnyArr: [1]string{secret},
		M:      map[string]string{secret: secret},
		MA:     map[any]any{secret: []any{secret}, math.NaN(): 1},
		List:   []any{secret, nil},
		inner:  inner{Exported: secret, unexported: secret}, private: secret,
		Inner:  &Inner{Deep: secret},
		F:      map[float64]string{math.NaN(): secret, 1: "x"},
		labels: labels{"k": secret},
	}
	n.AnyP = n
	n.Next = n
	n.MP = map[string]*node{"self": n}
	n.List[1] = n.List
	n.MA["self"] = n.MA

	r.Walk(n)

	const red = redact.Placeholder
	checks := []struct {
		what string
		got  any
		want any
	}{
		{"string", n.S, red},
		{"named string", n.N, name(red)},
		{"bytes", string(n.B), red},
		{"RawMessage", string(n.Raw), `"` + red + `"`},
		{"pointer", p, red},
		{"array", n.Arr, [2]string{red, "x"}},
		{"[]string", n.Strs, []string{red}},
		{"string in interface", n.Any, red},
		{"bytes in interface", n.AnyB, []byte(red)},
		{"struct in interface", n.AnyS, inner{Exported: red, unexported: secret}},
		{"array in interface", n.AnyArr, [1]string{red}},
		{"map", n.M, map[string]string{red: red}},
		{"map[any]any", n.MA[red], []any{red}},
		{"slice in itself", n.List[0], red},
		{"map with a NaN key", fmt.Sprint(n.F), "map[NaN:[REDACTED] 1:x]"},
		{"embedded unexported map", n.labels["k"], secret},
		{"unexported field", n.private, secret},
		{"embedded struct, exported field", n.Exported, red},
		{"embedded struct, unexported field", n.unexported, secret},
		{"embedded pointer", n.Deep, red},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.what, c.got, c.want)
		}
	}
	if len(n.MA) != 3 {
		t.Errorf("map[any]any has %d entries, want 3 (its NaN key kept once)", len(n.MA))
	}
}

func TestWalkNeedsAPointer(t *testing.T) {
	r := mustNew(t, []string{secret}, nil)
	for _, v := range []any{struct{ S string }{secret}, nil, secret} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Walk(%#v) did not panic", v)
				}
			}()
			r.Walk(v)
		}()
	}
	r.Walk((*node)(nil)) // a nil pointer is fine: nothing to redact
}
