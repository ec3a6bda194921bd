package report

import (
	"github.com/cleanroomhq/cleanroom/policy"

	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"
	"unicode/utf8"
)

// timeFormat is RFC 3339 in UTC with milliseconds, the form of every time
// in a JSON report.
const timeFormat = "2006-01-02T15:04:05.000Z07:00"

// SchemaError is returned by ReadJSON for a document that is not a report
// of a schema this version reads.
type SchemaError struct {
	Got string // the document's "schema"; empty when it has none
}

func (e *SchemaError) Error() string {
	if e.Got == "" {
		return fmt.Sprintf("report: not a cleanroom report: no \"schema\" field (want %q)", SchemaVersion)
	}
	return fmt.Sprintf("report: unsupported schema %q: this cleanroom reads %q", e.Got, SchemaVersion)
}

// WriteJSON writes r as an indented JSON document of schema SchemaVersion
// (whatever r.Schema says: the writer knows one schema). Times are written
// in UTC with milliseconds, durations rounded to the microsecond, and the
// values of Output.Rows and Output.Reply through JSONValue. Text that is
// not valid UTF-8 in other fields (stdout, body, …) is written with U+FFFD
// in place of the invalid bytes. Nothing is written if encoding fails.
func WriteJSON(w io.Writer, r *Run) error {
	if r == nil {
		return errors.New("report: WriteJSON of a nil run")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false) // "<h1>" in a body stays readable
	if err := enc.Encode(toJSONRun(r)); err != nil {
		return fmt.Errorf("report: encoding JSON: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// ReadJSON reads a report written by WriteJSON. A document of another
// schema is a *SchemaError; fields it does not know are ignored, since
// fields are added without a new schema version. Numbers in rows and
// replies come back as json.Number, and {"$base64": …} markers as []byte.
func ReadJSON(rd io.Reader) (*Run, error) {
	data, err := io.ReadAll(rd)
	if err != nil {
		return nil, fmt.Errorf("report: reading JSON: %w", err)
	}
	var head struct {
		Schema *string `json:"schema"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("report: reading JSON: %w", err)
	}
	if head.Schema == nil || *head.Schema != SchemaVersion {
		e := &SchemaError{}
		if head.Schema != nil {
			e.Got = *head.Schema
		}
		return nil, e
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var jr jsonRun
	if err := dec.Decode(&jr); err != nil {
		return nil, fmt.Errorf("report: reading JSON: %w", err)
	}
	return jr.run()
}

// The json* types are the wire form of the model: the same fields in the
// same order (a test holds them to it), with times as text and rows and
// replies made plain JSON data. Failure and Summary have nothing to
// convert and are written as they are.

type jsonRun struct {
	Schema        string       `json:"schema"`
	Cleanroom     string       `json:"cleanroom_version"`
	Backend       string       `json:"backend"`
	EngineVersion string       `json:"engine_version,omitempty"`
	Started       string       `json:"started,omitempty"`
	Finished      string       `json:"finished,omitempty"`
	DurationMS    float64      `json:"duration_ms"`
	Status        Status       `json:"status"`
	Suites        []*jsonSuite `json:"suites"`
	Summary       Summary      `json:"summary"`
}

type jsonSuite struct {
	Name       string          `json:"name"`
	File       string          `json:"file"`
	Session    string          `json:"session_id,omitempty"`
	Seed       int64           `json:"seed"`
	Status     Status          `json:"status"`
	Started    string          `json:"started,omitempty"`
	DurationMS float64         `json:"duration_ms"`
	Services   []*jsonService  `json:"services"`
	Scenarios  []*jsonScenario `json:"scenarios"`
	Error      string          `json:"error,omitempty"`
}

type jsonService struct {
	Name      string         `json:"name"`
	Kind      string         `json:"kind"`
	Image     string         `json:"image"`
	ImageID   string         `json:"image_id,omitempty"`
	Address   string         `json:"address,omitempty"`
	Started   string         `json:"started,omitempty"`
	ReadyMS   float64        `json:"ready_ms"`
	Restarts  int            `json:"restarts,omitempty"`
	Policy    *policy.Policy `json:"policy,omitempty"`
	Resources *Resources     `json:"resources,omitempty"`
	Log       string         `json:"log,omitempty"`
	Coverage  *Coverage      `json:"coverage,omitempty"`
}

type jsonScenario struct {
	Name       string      `json:"name"`
	Status     Status      `json:"status"`
	Started    string      `json:"started,omitempty"`
	DurationMS float64     `json:"duration_ms"`
	ResetMS    float64     `json:"reset_ms"`
	Seed       int64       `json:"seed"`
	Steps      []*jsonStep `json:"steps"`
	Error      string      `json:"error,omitempty"`
	Artifacts  []string    `json:"artifacts,omitempty"`
}

type jsonStep struct {
	Name       string            `json:"name"`
	Kind       string            `json:"kind"`
	Service    string            `json:"service,omitempty"`
	Status     Status            `json:"status"`
	Started    string            `json:"started,omitempty"`
	DurationMS float64           `json:"duration_ms"`
	Attempts   int               `json:"attempts"`
	Output     *jsonOutput       `json:"output,omitempty"`
	Failures   []*Failure        `json:"failures,omitempty"`
	Error      string            `json:"error,omitempty"`
	Captured   map[string]string `json:"captured,omitempty"`
	Pos        string            `json:"pos,omitempty"`
	Seed       int64             `json:"seed"`
	Policy     *policy.Policy    `json:"policy,omitempty"`
	Resources  *Resources        `json:"resources,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
	Digest     string            `json:"digest,omitempty"`
	Flaky      *Flaky            `json:"flaky,omitempty"`
	Snapshot   *Snapshot         `json:"snapshot,omitempty"`
	OutputFile string            `json:"output_file,omitempty"`
}

type jsonOutput struct {
	ExitCode *int   `json:"exit_code,omitempty"`
	Stdout   string `json:"stdout,omitempty"`
	Stderr   string `json:"stderr,omitempty"`
	// omitzero, not omitempty: a query that returned no rows writes
	// "rows": [], a step that returns no rows at all writes nothing.
	Rows         [][]any           `json:"rows,omitzero"`
	RowsAffected *int64            `json:"rows_affected,omitempty"`
	Reply        any               `json:"reply,omitempty"`
	Status       int               `json:"status,omitempty"`
	Headers      map[string]string `json:"headers,omitempty"`
	Body         string            `json:"body,omitempty"`
}

func toJSONRun(r *Run) *jsonRun {
	jr := &jsonRun{
		Schema:        SchemaVersion,
		Cleanroom:     r.Cleanroom,
		Backend:       r.Backend,
		EngineVersion: r.EngineVersion,
		Started:       formatTime(r.Started),
		Finished:      formatTime(r.Finished),
		DurationMS:    ms(r.DurationMS),
		Status:        r.Status,
		Suites:        []*jsonSuite{},
		Summary:       r.Summary,
	}
	for _, s := range r.Suites {
		if s == nil {
			continue
		}
		js := &jsonSuite{
			Name:       s.Name,
			File:       s.File,
			Session:    s.Session,
			Seed:       s.Seed,
			Status:     s.Status,
			Started:    formatTime(s.Started),
			DurationMS: ms(s.DurationMS),
			Services:   []*jsonService{},
			Scenarios:  []*jsonScenario{},
			Error:      validText(s.Error),
		}
		for _, sv := range s.Services {
			if sv == nil {
				continue
			}
			js.Services = append(js.Services, &jsonService{
				Name:      sv.Name,
				Kind:      sv.Kind,
				Image:     sv.Image,
				Address:   sv.Address,
				Started:   formatTime(sv.Started),
				ReadyMS:   ms(sv.ReadyMS),
				Restarts:  sv.Restarts,
				Policy:    sv.Policy,
				Resources: sv.Resources,
				Log:       sv.Log,
				Coverage:  sv.Coverage,
				ImageID:   sv.ImageID,
			})
		}
		for _, sc := range s.Scenarios {
			if sc == nil {
				continue
			}
			jsc := &jsonScenario{
				Name:       sc.Name,
				Status:     sc.Status,
				Started:    formatTime(sc.Started),
				DurationMS: ms(sc.DurationMS),
				ResetMS:    ms(sc.ResetMS),
				Seed:       sc.Seed,
				Steps:      []*jsonStep{},
				Error:      validText(sc.Error),
				Artifacts:  sc.Artifacts,
			}
			for _, st := range sc.Steps {
				if st == nil {
					continue
				}
				jsc.Steps = append(jsc.Steps, &jsonStep{
					Name:       st.Name,
					Kind:       st.Kind,
					Service:    st.Service,
					Status:     st.Status,
					Started:    formatTime(st.Started),
					DurationMS: ms(st.DurationMS),
					Attempts:   st.Attempts,
					Output:     toJSONOutput(st.Output),
					Failures:   validFailures(st.Failures),
					Error:      validText(st.Error),
					Captured:   st.Captured,
					Pos:        st.Pos,
					Seed:       st.Seed,
					Policy:     st.Policy,
					Resources:  st.Resources,
					Notes:      st.Notes,
					Digest:     st.Digest,
					Flaky:      st.Flaky,
					Snapshot:   st.Snapshot,
					OutputFile: st.OutputFile,
				})
			}
			js.Scenarios = append(js.Scenarios, jsc)
		}
		jr.Suites = append(jr.Suites, js)
	}
	return jr
}

func toJSONOutput(o *Output) *jsonOutput {
	if o == nil {
		return nil
	}
	jo := &jsonOutput{
		ExitCode:     o.ExitCode,
		Stdout:       validText(o.Stdout),
		Stderr:       validText(o.Stderr),
		RowsAffected: o.RowsAffected,
		Reply:        JSONValue(o.Reply),
		Status:       o.Status,
		Headers:      o.Headers,
		Body:         validText(o.Body),
	}
	if o.Rows != nil {
		jo.Rows = make([][]any, len(o.Rows))
		for i, row := range o.Rows {
			jo.Rows[i] = make([]any, len(row))
			for j, v := range row {
				jo.Rows[i][j] = JSONValue(v)
			}
		}
	}
	return jo
}

func (jr *jsonRun) run() (*Run, error) {
	var errs []error
	when := func(what, s string) time.Time {
		t, err := parseTime(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", what, err))
		}
		return t
	}
	r := &Run{
		Schema:        jr.Schema,
		Cleanroom:     jr.Cleanroom,
		Backend:       jr.Backend,
		EngineVersion: jr.EngineVersion,
		Started:       when("run started", jr.Started),
		Finished:      when("run finished", jr.Finished),
		DurationMS:    jr.DurationMS,
		Status:        jr.Status,
		Suites:        make([]*Suite, 0, len(jr.Suites)),
		Summary:       jr.Summary,
	}
	for _, js := range jr.Suites {
		if js == nil {
			continue
		}
		s := &Suite{
			Name:       js.Name,
			File:       js.File,
			Session:    js.Session,
			Seed:       js.Seed,
			Status:     js.Status,
			Started:    when("suite "+js.Name+" started", js.Started),
			DurationMS: js.DurationMS,
			Services:   make([]*Service, 0, len(js.Services)),
			Scenarios:  make([]*Scenario, 0, len(js.Scenarios)),
			Error:      js.Error,
		}
		for _, jv := range js.Services {
			if jv == nil {
				continue
			}
			s.Services = append(s.Services, &Service{
				Name:      jv.Name,
				Kind:      jv.Kind,
				Image:     jv.Image,
				Address:   jv.Address,
				Started:   when("service "+jv.Name+" started", jv.Started),
				ReadyMS:   jv.ReadyMS,
				Restarts:  jv.Restarts,
				Policy:    jv.Policy,
				Resources: jv.Resources,
				Log:       jv.Log,
				Coverage:  jv.Coverage,
				ImageID:   jv.ImageID,
			})
		}
		for _, jsc := range js.Scenarios {
			if jsc == nil {
				continue
			}
			sc := &Scenario{
				Name:       jsc.Name,
				Status:     jsc.Status,
				Started:    when("scenario "+jsc.Name+" started", jsc.Started),
				DurationMS: jsc.DurationMS,
				ResetMS:    jsc.ResetMS,
				Seed:       jsc.Seed,
				Steps:      make([]*Step, 0, len(jsc.Steps)),
				Error:      jsc.Error,
				Artifacts:  jsc.Artifacts,
			}
			for _, jst := range jsc.Steps {
				if jst == nil {
					continue
				}
				sc.Steps = append(sc.Steps, &Step{
					Name:       jst.Name,
					Kind:       jst.Kind,
					Service:    jst.Service,
					Status:     jst.Status,
					Started:    when("step "+jst.Name+" started", jst.Started),
					DurationMS: jst.DurationMS,
					Attempts:   jst.Attempts,
					Output:     jst.Output.output(),
					Failures:   jst.Failures,
					Error:      jst.Error,
					Captured:   jst.Captured,
					Pos:        jst.Pos,
					Seed:       jst.Seed,
					Policy:     jst.Policy,
					Resources:  jst.Resources,
					Notes:      jst.Notes,
					Digest:     jst.Digest,
					Flaky:      jst.Flaky,
					Snapshot:   jst.Snapshot,
					OutputFile: jst.OutputFile,
				})
			}
			s.Scenarios = append(s.Scenarios, sc)
		}
		r.Suites = append(r.Suites, s)
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("report: reading JSON: %w", errors.Join(errs...))
	}
	return r, nil
}

func (jo *jsonOutput) output() *Output {
	if jo == nil {
		return nil
	}
	o := &Output{
		ExitCode:     jo.ExitCode,
		Stdout:       jo.Stdout,
		Stderr:       jo.Stderr,
		Rows:         jo.Rows,
		RowsAffected: jo.RowsAffected,
		Reply:        restoreBytes(jo.Reply),
		Status:       jo.Status,
		Headers:      jo.Headers,
		Body:         jo.Body,
	}
	for _, row := range o.Rows {
		for i, v := range row {
			row[i] = restoreBytes(v)
		}
	}
	return o
}

// validText replaces each byte of s that is not valid UTF-8 with U+FFFD,
// as encoding/json would, but as the character itself rather than the
// escape \ufffd, so that writing a report read back from JSON gives the
// same bytes. Output that matters byte for byte (binary bodies) belongs in
// an artifact, not in the report.
func validText(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		b.WriteRune(r) // RuneError for an invalid byte
		i += n
	}
	return b.String()
}

func validFailures(fs []*Failure) []*Failure {
	out := fs
	for i, f := range fs {
		if f == nil {
			continue
		}
		c := *f
		c.Check, c.Expected, c.Got, c.Diff = validText(f.Check), validText(f.Expected), validText(f.Got), validText(f.Diff)
		if c.Check != f.Check || c.Expected != f.Expected || c.Got != f.Got || c.Diff != f.Diff {
			if &out[0] == &fs[0] {
				out = append([]*Failure(nil), fs...)
			}
			out[i] = &c
		}
	}
	return out
}

// formatTime writes t in UTC with milliseconds; the zero time (a step
// that never started) is left out.
func formatTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(timeFormat)
}

func parseTime(s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	return time.Parse(time.RFC3339Nano, s)
}

// ms rounds a duration in milliseconds to the microsecond; a value JSON
// cannot hold (NaN, ±Inf) is written as 0 rather than failing the report.
func ms(v float64) float64 {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0
	}
	return math.Round(v*1000) / 1000
}
