// Package ready decides when a started service can take traffic. Checks are
// small composable strategies, in the spirit of testcontainers' wait package,
// but they work on any cleanroom backend: they only use the backend.Container
// contract (endpoints, exec, logs).
//
// Every check polls until it succeeds, its own timeout expires, or the
// context ends; on expiry it returns a *errs.TimeoutError carrying the last
// reason the service was not ready, which is what a user needs to fix it.
package ready

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// DefaultTimeout applies to checks that do not set their own.
const DefaultTimeout = 60 * time.Second

// attemptLimit bounds one probe of a polling check.
const attemptLimit = 5 * time.Second

// Check is one readiness strategy.
type Check interface {
	// Wait returns nil once c is ready.
	Wait(ctx context.Context, c backend.Container) error
	// String describes the check for errors and progress output.
	String() string
}

// Probe is one attempt: nil means ready, an error says why not yet.
type Probe func(ctx context.Context, c backend.Container) error

// Option tunes a polling check.
type Option func(*poller)

// WithTimeout bounds how long a check polls.
func WithTimeout(d time.Duration) Option { return func(p *poller) { p.timeout = d } }

// WithInterval sets the longest pause between attempts. Attempts start fast
// (a few milliseconds apart) and back off to this interval, because most
// services are ready within the first second and each early millisecond of
// waiting is paid by every test.
func WithInterval(d time.Duration) Option { return func(p *poller) { p.maxInterval = d } }

// Func makes a polling check from a probe; desc names it in messages.
func Func(desc string, probe Probe, opts ...Option) Check {
	p := &poller{desc: desc, probe: probe, timeout: DefaultTimeout, maxInterval: 100 * time.Millisecond}
	for _, o := range opts {
		o(p)
	}
	return p
}

type poller struct {
	desc        string
	probe       Probe
	timeout     time.Duration
	maxInterval time.Duration
}

func (p *poller) String() string { return p.desc }

func (p *poller) Wait(parent context.Context, c backend.Container) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	interval := 5 * time.Millisecond
	var last error
	for {
		// One attempt may not hang the check, but must have time to
		// finish on a loaded engine (an exec round trip alone can take
		// seconds there).
		attempt, cancelAttempt := context.WithTimeout(ctx, max(attemptLimit, p.maxInterval*5))
		err := p.probe(attempt, c)
		cancelAttempt()
		if err == nil {
			return nil
		}
		var perm *permanentError
		if errors.As(err, &perm) {
			return fmt.Errorf("%s %s: %w", c.Name(), p.desc, perm.err)
		}
		// An attempt cut short by the deadline (its error is the context's)
		// says nothing about the service; the reason worth reporting is
		// the last complete one. An attempt that ended on its own as the
		// deadline passed still counts.
		if last == nil || !(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
			last = err
		}
		select {
		case <-ctx.Done():
			limit := p.timeout
			if parent.Err() != nil {
				// The caller's deadline came first: report the time waited.
				limit = time.Since(start).Round(time.Millisecond)
			}
			return &errs.TimeoutError{Op: "readiness", Target: c.Name() + " (" + p.desc + ")", Timeout: limit, Err: last}
		case <-time.After(interval):
		}
		interval = min(interval*2, p.maxInterval)
	}
}

// Permanent marks a probe error that no amount of waiting will fix (the
// container exited, a regular expression is invalid), so the check fails at
// once instead of running out its timeout.
func Permanent(err error) error { return &permanentError{err: err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// All is ready when every check is ready, checked in order.
func All(checks ...Check) Check { return all(checks) }

type all []Check

func (a all) Wait(ctx context.Context, c backend.Container) error {
	for _, ch := range a {
		if err := ch.Wait(ctx, c); err != nil {
			return err
		}
	}
	return nil
}

func (a all) String() string {
	parts := make([]string, len(a))
	for i, ch := range a {
		parts[i] = ch.String()
	}
	return strings.Join(parts, " and ")
}

// None is a check that is ready at once: the service needs no wait.
func None() Check { return none{} }

type none struct{}

func (none) Wait(context.Context, backend.Container) error { return nil }
func (none) String() string                                { return "started" }
