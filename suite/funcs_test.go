package suite_test

import (
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/suite"
)

// render loads a one-step suite whose exec argv is the given templates and
// renders them with seed (and a frozen clock when frozen is not zero).
func render(t *testing.T, seed int64, frozen time.Time, argv ...string) []string {
	t.Helper()
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = "'" + a + "'"
	}
	src := "[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = [" + strings.Join(q, ", ") + "]\n"
	s, err := suite.Parse("f.cleanroom.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	data := suite.WithClock(suite.TemplateData(nil, nil, seed), frozen)
	out, err := suite.RenderAll(s.Scenarios[0].Steps[0].Exec, data)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSeededFunctions(t *testing.T) {
	argv := []string{`{{ randInt 1 1000000 }}`, `{{ randString 12 }}`, `{{ uuid }}`, `{{ pick "a" "b" "c" "d" "e" "f" "g" }}`, `{{ randInt 1 1000000 }} {{ randInt 1 1000000 }}`}
	a, b := render(t, 42, time.Time{}, argv...), render(t, 42, time.Time{}, argv...)
	if strings.Join(a, "|") != strings.Join(b, "|") {
		t.Errorf("same seed, different values:\n%q\n%q", a, b)
	}
	c := render(t, 43, time.Time{}, argv...)
	if a[0] == c[0] && a[1] == c[1] && a[2] == c[2] {
		t.Errorf("seeds 42 and 43 gave the same values %q", a)
	}
	// Each string starts the generator afresh: the same expression in two
	// places agrees, a second call in one string moves on.
	if first, twice := a[0], strings.Fields(a[4]); twice[0] != first || twice[1] == first {
		t.Errorf("randInt alone %q, twice in one string %q: want the first to match, the second to differ", first, twice)
	}
	if !regexp.MustCompile(`^[a-z0-9]{12}$`).MatchString(a[1]) {
		t.Errorf("randString 12 = %q", a[1])
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(a[2]) {
		t.Errorf("uuid = %q, want a version 4 UUID", a[2])
	}
	if !strings.Contains("abcdefg", a[3]) || len(a[3]) != 1 {
		t.Errorf("pick = %q", a[3])
	}
}

func TestNow(t *testing.T) {
	frozen := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	got := render(t, 1, frozen, `{{ now }}`, `{{ now.Format "2006-01-02" }}`, `{{ now.Unix }}`)
	want := []string{"2024-01-01T00:00:00Z", "2024-01-01", "1704067200"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("frozen now: %q, want %q", got, want)
	}
	live := render(t, 1, time.Time{}, `{{ now }}`)[0]
	if ts, err := time.Parse(time.RFC3339Nano, live); err != nil || time.Since(ts) > time.Minute {
		t.Errorf("now without freeze_time = %q (%v), want the current time", live, err)
	}
}

func TestFreezeTime(t *testing.T) {
	s, err := suite.Parse("f.cleanroom.toml", []byte("freeze_time = \"2024-01-01T02:00:00+02:00\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = [\"true\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC); !s.FreezeTime.Value.Equal(want) || s.FreezeTime.Value.Location() != time.UTC {
		t.Errorf("freeze_time = %v, want %v in UTC", s.FreezeTime.Value, want)
	}
}

func TestSeededFunctionErrors(t *testing.T) {
	src := "[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = ['{{ randInt 10 1 }}']\n"
	s, err := suite.Parse("f.cleanroom.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	_, err = suite.RenderAll(s.Scenarios[0].Steps[0].Exec, suite.TemplateData(nil, nil, 1))
	if err == nil || !strings.Contains(err.Error(), "f.cleanroom.toml:5:9") || !strings.Contains(err.Error(), "randInt 10 1: the upper bound is below the lower") {
		t.Errorf("randInt 10 1: got %v, want a positioned error", err)
	}
}

// Numbers from [vars] are int64 and work as bounds.
func TestSeededFunctionsTakeVars(t *testing.T) {
	src := "[vars]\nmax = 6\nlen = \"4\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = ['{{ randInt 1 .vars.max }}', '{{ randString .vars.len }}']\n"
	s, err := suite.Parse("f.cleanroom.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out, err := suite.RenderAll(s.Scenarios[0].Steps[0].Exec, suite.TemplateData(s.VarValues(), nil, 3))
	if err != nil {
		t.Fatal(err)
	}
	if n, err := strconv.Atoi(out[0]); err != nil || n < 1 || n > 6 || len(out[1]) != 4 {
		t.Errorf("randInt 1 .vars.max, randString .vars.len = %q", out)
	}
}
