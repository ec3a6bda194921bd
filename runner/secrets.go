package runner

import (
	"fmt"
	"os"
	"slices"
	"sync"

	"github.com/cleanroomhq/cleanroom/redact"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// secrets is what a run must never write: the values of the environment
// variables some policy names in `secrets`, and matches of `redact`
// patterns. One set serves the whole run, whatever layer named a secret:
// a value that is secret in one suite is no less secret in the console
// line of another.
//
// Values are learned as they appear: from the runner's own environment at
// the start, then from the rendered env of every service and exec step (a
// value may come from a template), and from [vars].
type secrets struct {
	names    map[string]bool
	patterns []string

	mu     sync.Mutex
	values []string
	r      *redact.Redactor
}

func newSecrets(suites []*suite.Suite, project *suite.Policy) (*secrets, error) {
	s := &secrets{names: map[string]bool{}}
	addLayer := func(p *suite.Policy) {
		if p == nil {
			return
		}
		for _, n := range p.Layer.Secrets {
			s.names[n] = true
		}
		s.patterns = append(s.patterns, p.Layer.Redact...)
	}
	addLayer(project)
	for _, st := range suites {
		addLayer(st.Policy)
		for _, svc := range st.Services {
			addLayer(svc.Policy)
		}
		for _, sc := range st.Scenarios {
			for _, step := range sc.Steps {
				addLayer(step.Policy)
			}
		}
	}
	slices.Sort(s.patterns)
	s.patterns = slices.Compact(s.patterns)
	for n := range s.names {
		if v := os.Getenv(n); v != "" {
			s.values = append(s.values, v)
		}
	}
	for _, st := range suites {
		for name, v := range st.Vars {
			if str, ok := v.Value.(string); ok && s.names[name] && str != "" {
				s.values = append(s.values, str)
			}
		}
	}
	r, err := redact.New(s.values, s.patterns)
	if err != nil {
		return nil, fmt.Errorf("redact: %w", err)
	}
	s.r = r
	return s, nil
}

// learn adds the values of env whose names are secret.
func (s *secrets) learn(env map[string]string) {
	if s == nil || len(s.names) == 0 {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	grew := false
	for k, v := range env {
		if s.names[k] && v != "" && !slices.Contains(s.values, v) {
			s.values = append(s.values, v)
			grew = true
		}
	}
	if grew {
		// The patterns were compiled once already; New cannot fail on
		// them now.
		if r, err := redact.New(s.values, s.patterns); err == nil {
			s.r = r
		}
	}
}

func (s *secrets) redactor() *redact.Redactor {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.r
}

// String redacts one text.
func (s *secrets) String(text string) string { return s.redactor().String(text) }

// walk redacts a report object in place.
func (s *secrets) walk(v any) {
	if r := s.redactor(); r.Active() {
		r.Walk(v)
	}
}

// redactingObserver redacts every report object before the observer (the
// console) sees it, and every log line: what the user sees is what the
// reports hold, with the secrets already gone.
type redactingObserver struct {
	next Observer
	s    *secrets
}

func (o redactingObserver) SuiteStarted(s *report.Suite) {
	o.s.walk(s)
	o.next.SuiteStarted(s)
}

func (o redactingObserver) ServiceReady(s *report.Suite, svc *report.Service) {
	o.s.walk(svc)
	o.next.ServiceReady(s, svc)
}

func (o redactingObserver) ScenarioStarted(s *report.Suite, sc *report.Scenario) {
	o.s.walk(sc)
	o.next.ScenarioStarted(s, sc)
}

func (o redactingObserver) StepStarted(s *report.Suite, sc *report.Scenario, st *report.Step) {
	if ss, ok := o.next.(StepStarter); ok {
		o.s.walk(st)
		ss.StepStarted(s, sc, st)
	}
}

func (o redactingObserver) StepFinished(s *report.Suite, sc *report.Scenario, st *report.Step) {
	o.s.walk(st)
	o.next.StepFinished(s, sc, st)
}

func (o redactingObserver) ScenarioFinished(s *report.Suite, sc *report.Scenario) {
	o.s.walk(sc)
	o.next.ScenarioFinished(s, sc)
}

func (o redactingObserver) SuiteFinished(s *report.Suite) {
	o.s.walk(s)
	o.next.SuiteFinished(s)
}

func (o redactingObserver) Log(format string, args ...any) {
	o.next.Log("%s", o.s.String(fmt.Sprintf(format, args...)))
}
