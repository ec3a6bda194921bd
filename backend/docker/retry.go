package docker

import (
	"context"
	"errors"
	"io"
	"strings"
	"syscall"
	"time"
)

// startAttempts bounds the tries of a start that fails for a transient
// reason; startBackoff is the pause before the second, doubled after.
const (
	startAttempts = 3
	startBackoff  = 200 * time.Millisecond
)

// retryTransient calls start until it succeeds, fails for a reason that
// another try cannot change, or has been tried startAttempts times. The
// engine sometimes refuses a start for a moment — a host port another
// container just took, a connection to the engine reset — and a test run
// should not fail for that; a missing image or an invalid setting fails
// at once.
func retryTransient[T any](ctx context.Context, start func() (T, error)) (T, error) {
	delay := startBackoff
	for attempt := 1; ; attempt++ {
		v, err := start()
		if err == nil || attempt == startAttempts || !transient(err) {
			return v, err
		}
		select {
		case <-time.After(delay):
		case <-ctx.Done():
			return v, err
		}
		delay *= 2
	}
}

// transientMessages are the engine's words for a failure that may pass.
var transientMessages = []string{
	"port is already allocated",
	"address already in use",
	"connection reset by peer",
	"tls handshake timeout",
	"i/o timeout",
	"service unavailable",
	"too many requests",
}

// transient reports whether err is worth another try. Cancellation and
// deadlines are not: they are the caller's decision.
func transient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	if errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, io.ErrUnexpectedEOF) {
		return true
	}
	msg := strings.ToLower(err.Error())
	for _, m := range transientMessages {
		if strings.Contains(msg, m) {
			return true
		}
	}
	return false
}
