// Package errs defines the typed errors shared by every layer of cleanroom.
//
// Callers branch on them with errors.As; the root package re-exports them so a
// Go user needs only one import. Each error wraps its cause, so errors.Is keeps
// working for context.DeadlineExceeded and friends.
package errs

import (
	"fmt"
	"strings"
	"time"
)

// BackendError reports that the container engine (or the local sandbox)
// refused or failed an operation.
type BackendError struct {
	Backend string // "docker", "local"
	Op      string // "start", "exec", "copy", ...
	Target  string // service or container the operation was about, if any
	Err     error
}

func (e *BackendError) Error() string {
	var b strings.Builder
	b.WriteString(e.Backend)
	b.WriteString(": ")
	b.WriteString(e.Op)
	if e.Target != "" {
		b.WriteString(" ")
		b.WriteString(e.Target)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *BackendError) Unwrap() error { return e.Err }

// TimeoutError reports that something did not finish within its limit. When
// the thing was a process, it has been killed by the time the error is seen.
type TimeoutError struct {
	Op      string // "exec", "readiness", "start", ...
	Target  string
	Timeout time.Duration
	Err     error // the last error seen before giving up, if any
}

func (e *TimeoutError) Error() string {
	msg := fmt.Sprintf("%s %s: timed out after %s", e.Op, e.Target, e.Timeout)
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *TimeoutError) Unwrap() error { return e.Err }

// ValidationError reports input that cleanroom rejected before starting
// anything. Pos is "file:line:col" when the input came from a file.
type ValidationError struct {
	Pos     string
	Field   string
	Message string
}

func (e *ValidationError) Error() string {
	var b strings.Builder
	if e.Pos != "" {
		b.WriteString(e.Pos)
		b.WriteString(": ")
	}
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	b.WriteString(e.Message)
	return b.String()
}

// ValidationErrors is every validation problem found at once, so a user fixes
// them in one go rather than one per run.
type ValidationErrors []*ValidationError

func (es ValidationErrors) Error() string {
	lines := make([]string, len(es))
	for i, e := range es {
		lines[i] = e.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap exposes each error so errors.As finds a *ValidationError.
func (es ValidationErrors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

// Err returns nil for an empty list, so callers can `return errs.Err()`.
func (es ValidationErrors) Err() error {
	if len(es) == 0 {
		return nil
	}
	return es
}

// ResourceError reports that a resource limit was hit or a resource is
// missing (an image that may not be pulled, a memory limit exceeded).
type ResourceError struct {
	Resource string // "image", "memory", "pids", ...
	Target   string
	Message  string
	Err      error
}

func (e *ResourceError) Error() string {
	msg := e.Resource
	if e.Target != "" {
		msg += " " + e.Target
	}
	msg += ": " + e.Message
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

func (e *ResourceError) Unwrap() error { return e.Err }

// PolicyError reports that a security policy forbade an operation or cannot
// be satisfied.
type PolicyError struct {
	Rule    string
	Target  string
	Message string
}

func (e *PolicyError) Error() string {
	msg := "policy " + e.Rule
	if e.Target != "" {
		msg += " (" + e.Target + ")"
	}
	return msg + ": " + e.Message
}
