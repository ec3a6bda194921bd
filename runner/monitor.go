package runner

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// stepTarget is the running service a step acts on, whose container its
// resource usage is sampled from; nil for a one-shot exec (the backend
// samples that container itself) and an http step to a URL.
func (sr *suiteRun) stepTarget(st *suite.Step) *running {
	return sr.services[stepService(st)]
}

// sample starts sampling the container a step acts on. It returns a stop
// function that yields the usage, or nil when there is nothing to sample.
func (sr *suiteRun) sample(ctx context.Context, st *suite.Step) func() *backend.Usage {
	r := sr.stepTarget(st)
	if r == nil {
		return func() *backend.Usage { return nil }
	}
	s, err := backend.StartSampler(ctx, r.inst.Container, backend.DefaultSampleInterval)
	if err != nil {
		return func() *backend.Usage { return nil }
	}
	return func() *backend.Usage {
		u := s.Stop(context.WithoutCancel(ctx))
		return &u
	}
}

func resources(u *backend.Usage) *report.Resources {
	if u == nil {
		return nil
	}
	return &report.Resources{
		CPUSeconds:       u.CPU.Seconds(),
		MemoryPeakBytes:  u.MemoryPeak,
		MemoryLimitBytes: u.MemoryLimit,
		PidsPeak:         u.PidsPeak,
		PidsLimit:        u.PidsLimit,
		NetRxBytes:       u.NetRx,
		NetTxBytes:       u.NetTx,
		BlockReadBytes:   u.BlockRead,
		BlockWriteBytes:  u.BlockWrite,
		MemoryLimitHits:  u.MemoryLimitHits,
		OOMKills:         u.OOMKills,
		PidsLimitHits:    u.PidsLimitHits,
		Samples:          u.Samples,
	}
}

// judgeResources records a step attempt's usage and turns what the limits
// did into messages a user can act on: an OOM kill is "memory limit
// exceeded", not exit code 137; a threshold crossed fails the step with a
// *errs.ResourceError; a process limit reached is noted.
func (sr *suiteRun) judgeResources(st *suite.Step, rep *report.Step, out *outcome, u *backend.Usage) {
	if out.exec != nil && out.exec.Usage != nil {
		u = out.exec.Usage
	}
	rep.Resources = resources(u)
	if u == nil {
		return
	}
	where := "the one-shot container"
	if r := sr.stepTarget(st); r != nil {
		where = "service " + r.decl.Name
		if r.rep.Resources == nil {
			r.rep.Resources = &report.Resources{}
		}
		r.rep.Resources.Add(rep.Resources)
	}
	during := fmt.Sprintf("in %s during step %q", where, st.Name.Value)
	e := sr.pol.steps[st]

	// The kernel's OOM-kill count says it for sure; an engine that does not
	// report it (a remote one) still shows the memory peak at the limit.
	atLimit := u.MemoryLimit > 0 && u.MemoryPeak >= u.MemoryLimit-(1<<20)
	if out.exec != nil && out.exec.ExitCode == 137 && (u.OOMKilled || u.OOMKills > 0 || atLimit) {
		limit := u.MemoryLimit
		if limit == 0 {
			limit = e.Memory
		}
		out.err = errors.Join(&errs.ResourceError{Resource: "memory", Target: where,
			Message: fmt.Sprintf("memory limit exceeded (%s) %s: the kernel killed the process (exit code 137)", policy.FormatSize(limit), during)}, out.err)
		return
	}
	if e.MaxMemory > 0 && u.MemoryPeak > e.MaxMemory {
		out.err = errors.Join(&errs.ResourceError{Resource: "memory", Target: where,
			Message: fmt.Sprintf("memory peak %s is above max_memory %s %s", report.Bytes(u.MemoryPeak), policy.FormatSize(e.MaxMemory), during)}, out.err)
		return
	}
	if e.MaxCPUSeconds > 0 && u.CPU.Seconds() > e.MaxCPUSeconds {
		out.err = errors.Join(&errs.ResourceError{Resource: "cpu", Target: where,
			Message: fmt.Sprintf("used %.2f CPU seconds, above max_cpu_seconds %g, %s", u.CPU.Seconds(), e.MaxCPUSeconds, during)}, out.err)
		return
	}
	if u.PidsLimitHits > 0 || (u.PidsLimit > 0 && u.PidsPeak >= u.PidsLimit) {
		limit := u.PidsLimit
		if limit == 0 {
			limit = e.Pids
		}
		note := fmt.Sprintf("process limit reached (pids %d) %s", limit, during)
		if u.PidsLimitHits > 0 {
			note += fmt.Sprintf(": %d fork(s) refused", u.PidsLimitHits)
		}
		rep.Notes = append(rep.Notes, note)
	}
}

// down is a service found not running: why (with the end of its log) and
// when its container stopped.
type down struct {
	msg      string
	finished time.Time
}

// downServices checks every service's container and describes those that
// are no longer running: "service web exited with code 1 …, last lines of
// its output". The runner asks after a step fails (was a service behind
// it?) and before each scenario.
func (sr *suiteRun) downServices(ctx context.Context) map[string]down {
	out := map[string]down{}
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		if r == nil {
			continue
		}
		st, err := r.inst.Container.State(ctx)
		if err != nil {
			out[decl.Name] = down{msg: fmt.Sprintf("service %s is gone: %v", decl.Name, err)}
			continue
		}
		if st.Running {
			continue
		}
		msg := fmt.Sprintf("service %s exited with code %d", decl.Name, st.ExitCode)
		if st.OOMKilled {
			msg += fmt.Sprintf(" (memory limit exceeded: %s)", policy.FormatSize(r.inst.Policy.Memory))
		}
		out[decl.Name] = down{msg: msg + backend.LogTail(ctx, r.inst.Container, 10), finished: st.FinishedAt}
	}
	return out
}

// explainFailure adds to a failed step's error what happened to the
// services meanwhile: the step in flight when a service crashed fails
// naming the service, its exit code and the end of its log. A service that
// had stopped before the step began is named as such, not blamed on it.
//
// A process killed because its container died can report back before the
// engine has marked the container stopped, so when the step looks killed
// (it could not complete, or exited 137) the check is repeated for a
// moment.
func (sr *suiteRun) explainFailure(ctx context.Context, st *suite.Step, rep *report.Step, out outcome) {
	killed := out.err != nil || (out.exec != nil && out.exec.ExitCode == 137)
	gone := sr.downServices(ctx)
	for wait := 0; len(gone) == 0 && killed && wait < 10; wait++ {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
			return
		}
		gone = sr.downServices(ctx)
	}
	for _, decl := range sr.suite.Services {
		d, ok := gone[decl.Name]
		if !ok {
			continue
		}
		when := fmt.Sprintf(" during step %q", st.Name.Value)
		if !d.finished.IsZero() && d.finished.Before(rep.Started) {
			when = fmt.Sprintf(" before step %q", st.Name.Value)
		}
		head := firstLine(d.msg)
		line := head + when + d.msg[len(head):]
		if rep.Error == "" {
			rep.Error = line
		} else {
			rep.Error += "\n" + line
		}
	}
}

func firstLine(s string) string {
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}

// recover brings services back before a scenario: a service that is down,
// or (restart = "on-failure") no longer passes its readiness check, is
// started again, up to its max_restarts. A service that is down and may not
// be restarted is an error for the scenario, naming it.
func (sr *suiteRun) recoverServices(ctx context.Context) error {
	gone := sr.downServices(ctx)
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		if r == nil {
			continue
		}
		d, isDown := gone[decl.Name]
		msg := d.msg
		if !isDown && r.health != nil && decl.Restart.Value != suite.RestartPerScenario {
			if err := recheck(ctx, r); err != nil {
				msg, isDown = fmt.Sprintf("service %s no longer passes its wait check: %v", decl.Name, err), true
			}
		}
		if !isDown {
			continue
		}
		if decl.Restart.Value == suite.RestartPerScenario {
			continue // restarted for every scenario anyway
		}
		if decl.Restart.Value != suite.RestartOnFailure {
			return fmt.Errorf("%s\n(restart = \"on-failure\" would start it again)", msg)
		}
		if r.failures >= decl.MaxRestarts.Value {
			return fmt.Errorf("%s, and it was already restarted %d time(s) (max_restarts)", firstLine(msg), r.failures)
		}
		r.failures++
		sr.obs.Log("%s; restarting it (%d of %d)", firstLine(msg), r.failures, decl.MaxRestarts.Value)
		if err := sr.restart(ctx, r); err != nil {
			return fmt.Errorf("restart %s after it failed: %w", decl.Name, err)
		}
	}
	return nil
}

// recheck runs a service's health check once more, briefly: a service
// that answered before and does not within recheckTimeout is unhealthy.
func recheck(ctx context.Context, r *running) error {
	ctx, cancel := context.WithTimeout(ctx, recheckTimeout)
	defer cancel()
	return r.health.Wait(ctx, r.inst.Container)
}

// recheckTimeout bounds the readiness check of an on-failure service
// before each scenario: it answered at start, so it has no start-up to wait
// out now.
const recheckTimeout = 2 * time.Second

// auditLog writes one JSON line per container to Options.Audit.
type auditLog struct {
	mu      sync.Mutex
	w       io.Writer
	secrets *secrets
}

// AuditRecord is one line of the audit log: a container and the policy it
// ran under.
type AuditRecord struct {
	Time      time.Time     `json:"time"`
	Suite     string        `json:"suite"`
	File      string        `json:"file"`
	Session   string        `json:"session_id"`
	Container string        `json:"container"` // service name, or the step name of a one-shot
	Kind      string        `json:"kind"`      // "service" or "one-shot"
	Image     string        `json:"image"`
	Policy    policy.Policy `json:"policy"`
}

func (a *auditLog) write(rec AuditRecord) {
	if a == nil || a.w == nil {
		return
	}
	a.secrets.walk(&rec)
	b, err := json.Marshal(rec)
	if err != nil {
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	_, _ = a.w.Write(append(b, '\n'))
}
