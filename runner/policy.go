package runner

import (
	"fmt"
	"slices"
	"time"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
	"github.com/cleanroomhq/cleanroom/suite"
)

// policies are the effective policies of one suite's containers and steps,
// computed before anything starts.
type policies struct {
	suite    policy.Effective                 // the suite level (project under suite)
	services map[string]policy.Effective      // by service name, before the kind's needs
	steps    map[*suite.Step]policy.Effective // each step, over its service's policy
	require  []suite.Field[string]            // project's and suite's rules
}

// kindNeeds is what each service kind's image needs (see policy.Needs).
func kindNeeds(kind string) policy.Needs {
	switch kind {
	case suite.KindPostgres:
		return postgres.Needs
	case suite.KindRedis:
		return redis.Needs
	}
	return policy.Needs{}
}

func layer(p *suite.Policy) *policy.Layer {
	if p == nil {
		return nil
	}
	return &p.Layer
}

// resolvePolicies merges the layers of every container and step of s.
func resolvePolicies(s *suite.Suite, project *suite.Policy) *policies {
	ps := &policies{
		suite:    policy.Resolve(layer(project), layer(s.Policy)),
		services: map[string]policy.Effective{},
		steps:    map[*suite.Step]policy.Effective{},
	}
	// A rule both the project and the suite require is checked once, at
	// the project's position.
	seen := map[string]bool{}
	for _, p := range []*suite.Policy{project, s.Policy} {
		if p == nil {
			continue
		}
		for _, r := range p.Require {
			if !seen[r.Value] {
				seen[r.Value] = true
				ps.require = append(ps.require, r)
			}
		}
	}
	for _, svc := range s.Services {
		ps.services[svc.Name] = policy.Resolve(layer(project), layer(s.Policy), layer(svc.Policy))
	}
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			var svcLayer *policy.Layer
			if svc := s.Service(stepService(st)); svc != nil {
				svcLayer = layer(svc.Policy)
			}
			e := policy.Resolve(layer(project), layer(s.Policy), svcLayer, layer(st.Policy))
			if st.Kind == suite.StepExec && st.Service.Value == "" && st.User.IsSet() {
				// A one-shot container runs as the step's user.
				e.User = st.User.Value
				e.Origin["user"] = st.User.Pos.String()
			}
			ps.steps[st] = e
		}
	}
	return ps
}

// CheckPolicies validates the effective policies of suites under the
// project's [policy] (nil when none) before anything starts: compliance
// rules, and contradictions that would only show as a confusing failure
// later. Every problem is an *errs.ValidationError positioned at the value
// to change.
func CheckPolicies(suites []*suite.Suite, project *suite.Policy) error {
	var list errs.ValidationErrors
	for _, s := range suites {
		list = append(list, checkSuitePolicies(s, project)...)
	}
	return list.Err()
}

func checkSuitePolicies(s *suite.Suite, project *suite.Policy) errs.ValidationErrors {
	ps := resolvePolicies(s, project)
	var list errs.ValidationErrors
	add := func(pos string, format string, args ...any) {
		if pos == "" {
			pos = s.File
		}
		list = append(list, &errs.ValidationError{Pos: pos, Message: fmt.Sprintf(format, args...)})
	}
	origin := func(e policy.Effective, key string, fallback suite.Pos) string {
		if pos := e.Origin[key]; pos != "" {
			return pos
		}
		return fallback.String()
	}

	// Compliance: every container, as it will run (with its kind's needs).
	comply := func(what string, p policy.Policy, pos suite.Pos) {
		for _, rule := range ps.require {
			for _, v := range policy.Check(p, []string{rule.Value}) {
				add(rule.Pos.String(), "compliance rule %s: %s breaks it: %s (%s)", v.Rule, what, v.Message, pos)
			}
		}
	}
	for _, svc := range s.Services {
		e := ps.services[svc.Name]
		needs := kindNeeds(svc.Kind.Value)
		comply(fmt.Sprintf("service %q", svc.Name), e.Grant(needs), svc.Pos)
		if e.Memory > 0 && e.Memory < needs.MinMemory {
			add(origin(e, "memory", svc.Pos), "service %q: a memory limit of %s is below the %s a %s server needs to start",
				svc.Name, policy.FormatSize(e.Memory), policy.FormatSize(needs.MinMemory), svc.Kind.Value)
		}
		checkThresholds(add, origin, fmt.Sprintf("service %q", svc.Name), e, svc.Pos)
		if e.Network == policy.None {
			if svc.Kind.Value != suite.KindGeneric || svc.PrimaryPort() != 0 {
				add(origin(e, "network", svc.Pos), "service %q has network \"none\", so the runner could not reach its port; only a generic service without ports can run without a network", svc.Name)
			}
			for _, other := range s.Services {
				if slices.ContainsFunc(other.DependsOn, func(d suite.Field[string]) bool { return d.Value == svc.Name }) {
					add(origin(e, "network", svc.Pos), "service %q has network \"none\", but service %q depends on it and could not reach it", svc.Name, other.Name)
				}
			}
			if svc.Wait != nil && (svc.Wait.HTTP.IsSet() || svc.Wait.Port.IsSet()) {
				add(origin(e, "network", svc.Pos), "service %q has network \"none\", so its wait check over the network could never pass; wait with log or exec instead", svc.Name)
			}
		}
	}
	if st := ps.suite.SuiteTimeout; st > 0 && s.Timeout.Value > st {
		add(s.Timeout.Pos.String(), "timeout %s is longer than the policy's suite_timeout %s (%s)", s.Timeout.Value, st, origin(ps.suite, "suite_timeout", s.Timeout.Pos))
	}
	for _, sc := range s.Scenarios {
		for _, st := range sc.Steps {
			e := ps.steps[st]
			what := fmt.Sprintf("step %q of scenario %q", st.Name.Value, sc.Name.Value)
			if st.Kind == suite.StepExec && st.Service.Value == "" {
				comply(what+" (a one-shot container)", e.Policy, st.Pos)
			} else if st.User.IsSet() && (policy.Policy{User: st.User.Value}).IsRoot() {
				// An exec as root in a service would step around a
				// non-root container.
				for _, rule := range ps.require {
					if rule.Value == "non_root" {
						add(rule.Pos.String(), "compliance rule non_root: %s runs as %q in service %q (%s)", what, st.User.Value, st.Service.Value, st.User.Pos)
					}
				}
			}
			if st.Policy != nil {
				// A service's own thresholds were checked with the service.
				checkThresholds(add, origin, what, e, st.Pos)
			}
			if limit := e.StepTimeout; limit > 0 && st.Timeout.IsSet() && st.Timeout.Value > limit {
				add(st.Timeout.Pos.String(), "%s: timeout %s is longer than the policy's step_timeout %s (%s)", what, st.Timeout.Value, limit, origin(e, "step_timeout", st.Pos))
			}
			target := st.Service.Value
			if st.HTTP != nil && st.HTTP.Service.IsSet() {
				target = st.HTTP.Service.Value
			}
			if st.Kind != suite.StepExec && target != "" && ps.services[target].Network == policy.None {
				add(st.Pos.String(), "%s: %s step cannot reach service %q, which has network \"none\"", what, st.Kind, target)
			}
		}
	}
	return list
}

func checkThresholds(add func(string, string, ...any), origin func(policy.Effective, string, suite.Pos) string, what string, e policy.Effective, pos suite.Pos) {
	if e.MaxMemory > 0 && e.Memory > 0 && e.MaxMemory > e.Memory {
		add(origin(e, "max_memory", pos), "%s: max_memory %s is above the memory limit %s, so it could never trip", what, policy.FormatSize(e.MaxMemory), policy.FormatSize(e.Memory))
	}
}

// stepTimeout is how long a step may run: its own timeout, else the
// policy's step_timeout when that is shorter than the default.
func stepTimeout(st *suite.Step, e policy.Effective) time.Duration {
	if st.Timeout.IsSet() {
		return st.Timeout.Value
	}
	if e.StepTimeout > 0 && e.StepTimeout < st.Timeout.Value {
		return e.StepTimeout
	}
	return st.Timeout.Value
}
