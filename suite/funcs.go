package suite

import (
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"text/template"
	"time"
)

// Template functions driven by the seed and the clock, so that a suite run
// again with the same seed (and freeze_time) renders the same values.
//
// Each rendering of one template string starts the generator afresh from
// the seed of its scope (the step's, or the suite's for a service): the
// same expression gives the same value wherever it is written in a step —
// `exec = ["echo", "{{ randInt 1 100 }}"]` and
// `expect = { stdout = "{{ randInt 1 100 }}\n" }` agree — while a second
// call in one string gives the next value of the sequence.

// funcNames are the functions templates may call, beside text/template's
// own.
var funcNames = []string{"randInt", "randString", "uuid", "pick", "now"}

// dataClock is the data key holding the frozen time, when the suite gives
// freeze_time. It is not a field templates can name.
const dataClock = "\x00clock"

// parseFuncs declares the functions at parse time; Render binds them to the
// seed and clock of its data.
var parseFuncs = boundFuncs(0, time.Time{})

// Time is what `now` returns: a time that prints as RFC 3339 and keeps
// time.Time's methods (`{{ now.Format "2006-01-02" }}`, `{{ now.Unix }}`).
type Time struct{ time.Time }

func (t Time) String() string { return t.Format(time.RFC3339Nano) }

// boundFuncs returns the functions for one rendering.
func boundFuncs(seed int64, frozen time.Time) template.FuncMap {
	rng := rand.New(rand.NewPCG(uint64(seed), 0x636c65616e726f6f)) // "cleanroo"
	return template.FuncMap{
		"randInt": func(loV, hiV any) (int64, error) {
			lo, err := toInt("randInt", loV)
			if err != nil {
				return 0, err
			}
			hi, err := toInt("randInt", hiV)
			if err != nil {
				return 0, err
			}
			if hi < lo {
				return 0, fmt.Errorf("randInt %d %d: the upper bound is below the lower", lo, hi)
			}
			return lo + rng.Int64N(hi-lo+1), nil
		},
		"randString": func(nV any) (string, error) {
			n, err := toInt("randString", nV)
			if err != nil {
				return "", err
			}
			if n < 0 || n > 1<<16 {
				return "", fmt.Errorf("randString %d: want a length from 0 to 65536", n)
			}
			const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
			b := make([]byte, n)
			for i := range b {
				b[i] = alphabet[rng.IntN(len(alphabet))]
			}
			return string(b), nil
		},
		"uuid": func() string {
			var b [16]byte
			for i := range b {
				b[i] = byte(rng.Uint32())
			}
			b[6] = b[6]&0x0f | 0x40 // version 4
			b[8] = b[8]&0x3f | 0x80 // RFC 4122 variant
			return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
		},
		"pick": func(items ...any) (any, error) {
			if len(items) == 0 {
				return nil, errors.New("pick needs at least one value")
			}
			return items[rng.IntN(len(items))], nil
		},
		"now": func() Time {
			if !frozen.IsZero() {
				return Time{frozen}
			}
			return Time{time.Now().UTC()}
		},
	}
}

// WithClock returns data whose `now` is frozen at t (freeze_time).
func WithClock(data map[string]any, t time.Time) map[string]any {
	if !t.IsZero() {
		data[dataClock] = t
	}
	return data
}

// bind gives a parsed template the functions of data's seed and clock. It
// works on a clone: suites share nothing, but a template may be rendered by
// two goroutines (a service's env at a per-scenario restart and a step).
func bind(t *template.Template, data map[string]any) (*template.Template, error) {
	seed, _ := data["seed"].(int64)
	frozen, _ := data[dataClock].(time.Time)
	c, err := t.Clone()
	if err != nil {
		return nil, err
	}
	return c.Funcs(boundFuncs(seed, frozen)), nil
}

// toInt takes the integers templates hold: literals are int, numbers from
// [vars] and captures int64, JSON numbers json.Number or float64.
func toInt(fn string, v any) (int64, error) {
	switch n := v.(type) {
	case int:
		return int64(n), nil
	case int64:
		return n, nil
	case float64:
		if n == float64(int64(n)) {
			return int64(n), nil
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return i, nil
		}
	case string:
		if i, err := strconv.ParseInt(n, 10, 64); err == nil {
			return i, nil
		}
	}
	return 0, fmt.Errorf("%s: %v (%T) is not an integer", fn, v, v)
}
