package runner

import (
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

func TestDeriveSeed(t *testing.T) {
	a, b := deriveSeed(7, "checkout"), deriveSeed(7, "checkout")
	if a != b || a < 0 {
		t.Fatalf("deriveSeed(7, checkout) = %d then %d: want one non-negative value", a, b)
	}
	if deriveSeed(7, "refund") == a || deriveSeed(8, "checkout") == a {
		t.Errorf("another name or parent gave the same seed %d", a)
	}
	// Same-named steps are told apart, and a step keeps its seed when
	// steps are added after it.
	steps := []*suite.Step{{Name: suite.Field[string]{Value: "x"}}, {Name: suite.Field[string]{Value: "x"}}}
	seeds := stepSeeds(1, steps)
	if seeds[steps[0]] == seeds[steps[1]] {
		t.Errorf("two steps named x share seed %d", seeds[steps[0]])
	}
	more := append(steps, &suite.Step{Name: suite.Field[string]{Value: "y"}})
	if stepSeeds(1, more)[steps[0]] != seeds[steps[0]] {
		t.Errorf("adding a step changed an earlier step's seed")
	}
}

func TestContainerEnv(t *testing.T) {
	frozen := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)
	env := containerEnv(map[string]string{"TZ": "Europe/Paris", "APP": "x"}, 42, frozen)
	want := map[string]string{"TZ": "Europe/Paris", "LANG": "C.UTF-8", "APP": "x", "CLEANROOM_SEED": "42", "CLEANROOM_TIME": "2024-01-01T00:00:00Z"}
	if !maps.Equal(env, want) {
		t.Errorf("containerEnv = %v, want %v (the suite's TZ wins over the default)", env, want)
	}
	if _, ok := containerEnv(nil, 1, time.Time{})["CLEANROOM_TIME"]; ok {
		t.Error("CLEANROOM_TIME without freeze_time")
	}
}

func TestOneShotName(t *testing.T) {
	for name, want := range map[string]string{
		"Read back":                      "run-read-back",
		"the clock, as the app sees it!": "run-the-clock-as-the-app-sees-it",
		"---":                            "run",
		strings.Repeat("long", 30):       "run-" + strings.Repeat("long", 11),
	} {
		if got := oneShotName(&suite.Step{Name: suite.Field[string]{Value: name}}); got != want {
			t.Errorf("oneShotName(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestPlainRowsShowsUUIDsAsText(t *testing.T) {
	id := [16]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0x4d, 0xef, 0x81, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef}
	got := fmt.Sprint(plainRows([][]any{{id, int64(1)}}))
	if !strings.Contains(got, "12345678-9abc-4def-8123-456789abcdef") {
		t.Errorf("plainRows = %s, want the uuid as text for the normalizers", got)
	}
}

func TestCheckSnapshots(t *testing.T) {
	parse := func(file, src string) *suite.Suite {
		s, err := suite.Parse(file, []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	const withSnap = "name = \"orders\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = [\"true\"]\nsnapshot = \"x\"\n"
	const without = "name = \"orders\"\n[[scenario]]\nname = \"s\"\n[[scenario.step]]\nimage = \"busybox\"\nexec = [\"true\"]\n"
	err := CheckSnapshots([]*suite.Suite{parse("d/a.cleanroom.toml", withSnap), parse("d/b.cleanroom.toml", without)})
	if err == nil || !strings.Contains(err.Error(), `d/b.cleanroom.toml:1:8: suite "orders" would share the snapshot file d/__snapshots__/orders.snap with d/a.cleanroom.toml`) {
		t.Errorf("two suites named orders in one folder: got %v", err)
	}
	if err := CheckSnapshots([]*suite.Suite{parse("d/a.cleanroom.toml", without), parse("d/b.cleanroom.toml", without)}); err != nil {
		t.Errorf("no snapshot steps: got %v, want no error", err)
	}
	if err := CheckSnapshots([]*suite.Suite{parse("d/a.cleanroom.toml", withSnap), parse("e/a.cleanroom.toml", withSnap)}); err != nil {
		t.Errorf("other folders: got %v, want no error", err)
	}
}

// A secret is redacted before the normalizers run: a rule that rewrote
// part of it would otherwise leave the rest in a snapshot or a diff.
func TestFingerprintRedactsBeforeNormalizing(t *testing.T) {
	s, err := suite.Parse("f.cleanroom.toml", []byte(`normalize = [{ match = '[0-9]+', replace = "<N>" }]
[policy]
secrets = ["TOKEN"]
[vars]
TOKEN = "tok-zzz-123"
[[scenario]]
name = "s"
[[scenario.step]]
image = "busybox"
exec = ["true"]
`))
	if err != nil {
		t.Fatal(err)
	}
	sec, err := newSecrets([]*suite.Suite{s}, nil)
	if err != nil {
		t.Fatal(err)
	}
	sr := &suiteRun{suite: s, shared: &runState{secrets: sec}}
	code := 0
	fp := sr.fingerprint(&report.Step{Status: report.Passed, Output: &report.Output{ExitCode: &code, Stdout: "token tok-zzz-123 and 42\n"}})
	if strings.Contains(fp, "tok-zzz") || !strings.Contains(fp, "token [REDACTED] and <N>") {
		t.Errorf("fingerprint:\n%s\nwant the secret redacted whole and the number normalized", fp)
	}
}
