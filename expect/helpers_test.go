package expect

import (
	"slices"
	"strings"
	"testing"
)

// messages renders each failure of r.
func messages(r Result) []string {
	var out []string
	for _, f := range r.Failures {
		out = append(out, f.String())
	}
	return out
}

// wantMessages fails t unless r's failures render exactly as want, in order.
func wantMessages(t *testing.T, r Result, want ...string) {
	t.Helper()
	got := messages(r)
	if !slices.Equal(got, want) {
		t.Errorf("failures:\n got: %s\nwant: %s", quoteAll(got), quoteAll(want))
	}
}

func quoteAll(ss []string) string {
	if len(ss) == 0 {
		return "(none)"
	}
	return "\n  " + strings.Join(ss, "\n  ")
}
