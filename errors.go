package cleanroom

import "github.com/cleanroomhq/cleanroom/errs"

// The typed errors every layer returns, re-exported so that a Go user needs
// only this import. Branch on them with errors.As.
type (
	// BackendError: the engine refused or failed an operation.
	BackendError = errs.BackendError
	// TimeoutError: something did not finish in time (and was killed).
	TimeoutError = errs.TimeoutError
	// ValidationError: input rejected before anything started.
	ValidationError = errs.ValidationError
	// ValidationErrors: every validation problem found at once.
	ValidationErrors = errs.ValidationErrors
	// ResourceError: a limit was hit or a resource (an image) is missing.
	ResourceError = errs.ResourceError
	// PolicyError: a security policy forbade an operation.
	PolicyError = errs.PolicyError
)
