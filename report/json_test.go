package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestWriteJSONGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, testRun()); err != nil {
		t.Fatal(err)
	}
	if !json.Valid(buf.Bytes()) {
		t.Fatalf("not valid JSON:\n%s", buf.Bytes())
	}
	golden(t, "run.json", buf.Bytes())
}

func TestJSONRoundTrip(t *testing.T) {
	var first bytes.Buffer
	if err := WriteJSON(&first, testRun()); err != nil {
		t.Fatal(err)
	}
	back, err := ReadJSON(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}

	// What round-trips: everything, once times are cut to the millisecond
	// in UTC, durations to the microsecond, invalid UTF-8 in text replaced,
	// and rows and replies compared as JSONValue sees them.
	again, err := ReadJSON(bytes.NewReader(first.Bytes()))
	if err != nil {
		t.Fatal(err)
	}
	want := canon(testRun())
	if got := canon(again); !reflect.DeepEqual(got, want) {
		var g, w bytes.Buffer
		_ = WriteJSON(&g, got)
		_ = WriteJSON(&w, want)
		t.Errorf("read back differs from what was written\n%s", firstDiff(w.String(), g.String()))
	}

	// Writing what was read gives the same document, byte for byte.
	var second bytes.Buffer
	if err := WriteJSON(&second, back); err != nil {
		t.Fatal(err)
	}
	if first.String() != second.String() {
		t.Errorf("second write differs\n%s", firstDiff(first.String(), second.String()))
	}

	// The parts a reader of the Go model relies on, spelled out.
	users := back.Suites[0]
	steps := users.Scenarios[0].Steps
	checks := []struct {
		name      string
		got, want any
	}{
		{"run started", back.Started, time.Date(2025, 6, 1, 10, 0, 0, 113000000, time.UTC)},
		{"suite seed", users.Seed, int64(42)},
		{"service started", users.Services[0].Started, time.Date(2025, 6, 1, 10, 0, 0, 124000000, time.UTC)},
		{"duration rounded to µs", users.DurationMS, 2345.679},
		{"max int64 exact", steps[1].Output.Rows[0][0], json.Number("9223372036854775807")},
		{"max uint64 exact", steps[1].Output.Rows[0][1], json.Number("18446744073709551615")},
		{"2^100 exact", steps[1].Output.Rows[0][2], json.Number("1267650600228229401496703205376")},
		{"NaN as text", steps[1].Output.Rows[0][4], "NaN"},
		{"SQL NULL", steps[1].Output.Rows[0][7], nil},
		{"UTF-8 bytes as text", steps[1].Output.Rows[1][0], "text"},
		{"binary bytes restored", steps[1].Output.Rows[1][1], []byte{0xff, 0x00, 0x01}},
		{"invalid UTF-8 string as bytes", steps[1].Output.Rows[1][3], []byte("bad \xc3\x28 utf-8")},
		{"time as RFC 3339", steps[1].Output.Rows[1][4], "2024-02-29T23:59:59.999999999Z"},
		{"redis bytes restored", steps[2].Output.Reply.([]any)[3], []byte{0xde, 0xad, 0xbe, 0xef}},
		{"no rows is not nil", steps[4].Output.Rows != nil && len(steps[4].Output.Rows) == 0, true},
		{"rows absent stay nil", steps[2].Output.Rows == nil, true},
		{"stderr invalid UTF-8 replaced", users.Scenarios[1].Steps[0].Output.Stderr, "warn \ufffd\ufffd\n"},
		{"never-started step has zero time", users.Scenarios[1].Steps[2].Started.IsZero(), true},
		{"exit code pointer", *users.Scenarios[1].Steps[0].Output.ExitCode, 3},
		{"suite error", back.Suites[1].Error, testRun().Suites[1].Error},
		{"scenario error", users.Scenarios[3].Error, testRun().Suites[0].Scenarios[3].Error},
		{"summary", back.Summary, Summary{Passed: 1, Failed: 1, Skipped: 3, Errored: 2, Steps: StepCounts{Passed: 6, Failed: 2, Skipped: 2, Errored: 1}}},
	}
	for _, c := range checks {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: got %#v, want %#v", c.name, c.got, c.want)
		}
	}
}

// canon brings r to the form in which a written and re-read run compares
// equal with the original.
func canon(r *Run) *Run {
	ts := func(t *time.Time) {
		if !t.IsZero() {
			*t = t.UTC().Truncate(time.Millisecond)
		}
	}
	ts(&r.Started)
	ts(&r.Finished)
	r.DurationMS = ms(r.DurationMS)
	if r.Suites == nil {
		r.Suites = []*Suite{}
	}
	for _, s := range r.Suites {
		ts(&s.Started)
		s.Error = jsonText(s.Error)
		s.DurationMS = ms(s.DurationMS)
		if s.Services == nil {
			s.Services = []*Service{}
		}
		if s.Scenarios == nil {
			s.Scenarios = []*Scenario{}
		}
		for _, sv := range s.Services {
			ts(&sv.Started)
			sv.ReadyMS = ms(sv.ReadyMS)
		}
		for _, sc := range s.Scenarios {
			ts(&sc.Started)
			sc.Error = jsonText(sc.Error)
			sc.DurationMS = ms(sc.DurationMS)
			sc.ResetMS = ms(sc.ResetMS)
			if sc.Steps == nil {
				sc.Steps = []*Step{}
			}
			for _, st := range sc.Steps {
				ts(&st.Started)
				st.DurationMS = ms(st.DurationMS)
				st.Error = jsonText(st.Error)
				for _, f := range st.Failures {
					f.Expected, f.Got, f.Diff = jsonText(f.Expected), jsonText(f.Got), jsonText(f.Diff)
				}
				if o := st.Output; o != nil {
					o.Stdout, o.Stderr, o.Body = jsonText(o.Stdout), jsonText(o.Stderr), jsonText(o.Body)
					o.Reply = JSONValue(o.Reply)
					for _, row := range o.Rows {
						for i, v := range row {
							row[i] = JSONValue(v)
						}
					}
				}
			}
		}
	}
	return r
}

// jsonText is s as encoding/json writes it: each invalid byte a U+FFFD.
func jsonText(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r)
		i += n
	}
	return b.String()
}

func TestReadJSONErrors(t *testing.T) {
	tests := []struct {
		name   string
		doc    string
		schema *SchemaError // want a *SchemaError with this Got
		want   string       // in the message
	}{
		{"no schema", `{"suites": []}`, &SchemaError{}, `not a cleanroom report: no "schema" field (want "cleanroom.report/v1")`},
		{"newer schema", `{"schema": "cleanroom.report/v2"}`, &SchemaError{Got: "cleanroom.report/v2"}, `unsupported schema "cleanroom.report/v2": this cleanroom reads "cleanroom.report/v1"`},
		{"other document", `{"schema": "https://json-schema.org/draft/2020-12/schema"}`, &SchemaError{Got: "https://json-schema.org/draft/2020-12/schema"}, "unsupported schema"},
		{"not JSON", `<testsuites/>`, nil, "report: reading JSON: invalid character '<'"},
		{"schema not a string", `{"schema": 1}`, nil, "cannot unmarshal number"},
		{"trailing data", `{"schema": "cleanroom.report/v1"} {}`, nil, "invalid character '{' after top-level value"},
		{"bad time", `{"schema": "cleanroom.report/v1", "started": "yesterday"}`, nil, `run started: parsing time "yesterday"`},
		{"bad nested time", `{"schema": "cleanroom.report/v1", "suites": [{"name": "s", "scenarios": [{"name": "c", "started": "noon"}]}]}`, nil, `scenario c started: parsing time "noon"`},
		{"wrong type", `{"schema": "cleanroom.report/v1", "suites": [{"scenarios": "none"}]}`, nil, "cannot unmarshal string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := ReadJSON(strings.NewReader(tt.doc))
			if err == nil {
				t.Fatalf("no error; read %+v", r)
			}
			if r != nil {
				t.Errorf("a run came back with the error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q does not contain %q", err, tt.want)
			}
			var se *SchemaError
			switch {
			case tt.schema == nil && errors.As(err, &se):
				t.Errorf("got a *SchemaError for a document that is not about its schema: %v", err)
			case tt.schema != nil && !errors.As(err, &se):
				t.Errorf("error is %T, want *SchemaError", err)
			case tt.schema != nil && se.Got != tt.schema.Got:
				t.Errorf("SchemaError.Got = %q, want %q", se.Got, tt.schema.Got)
			}
		})
	}
}

// Fields are added to the schema without a new version, so a reader must
// take a document with fields it does not know.
func TestReadJSONIgnoresNewFields(t *testing.T) {
	doc := `{"schema": "cleanroom.report/v1", "status": "passed", "attestation": {"sig": "x"},
		"suites": [{"name": "s", "flaky": true, "scenarios": [{"name": "c", "status": "passed", "steps": [
			{"name": "st", "status": "passed", "output": {"stdout": "hi", "trace_id": "abc"}}]}]}]}`
	r, err := ReadJSON(strings.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	if got := r.Suites[0].Scenarios[0].Steps[0].Output.Stdout; got != "hi" {
		t.Errorf("stdout = %q", got)
	}
}

func TestWriteJSONNil(t *testing.T) {
	var buf bytes.Buffer
	if err := WriteJSON(&buf, nil); err == nil {
		t.Error("no error for a nil run")
	}
	if buf.Len() != 0 {
		t.Errorf("wrote %q", buf.String())
	}
	// An empty run is a valid report with empty lists, not nulls.
	if err := WriteJSON(&buf, &Run{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), `"suites": []`) || !strings.Contains(buf.String(), `"schema": "cleanroom.report/v1"`) {
		t.Errorf("empty run written as\n%s", buf.String())
	}
}

// The wire types must follow the model field for field, in order: a field
// added to the model and forgotten here would silently vanish from reports.
func TestWireMirrorsModel(t *testing.T) {
	pairs := []struct{ model, wire any }{
		{Run{}, jsonRun{}},
		{Suite{}, jsonSuite{}},
		{Service{}, jsonService{}},
		{Scenario{}, jsonScenario{}},
		{Step{}, jsonStep{}},
		{Output{}, jsonOutput{}},
	}
	for _, p := range pairs {
		m, w := reflect.TypeOf(p.model), reflect.TypeOf(p.wire)
		if got, want := jsonNames(w), jsonNames(m); !reflect.DeepEqual(got, want) {
			t.Errorf("%s has JSON fields\n  %v\nbut %s has\n  %v", w, got, m, want)
		}
	}
}

func jsonNames(t reflect.Type) []string {
	var names []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		names = append(names, f.Name+":"+name)
	}
	return names
}
