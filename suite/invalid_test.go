package suite_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/suite"
)

var update = flag.Bool("update", false, "rewrite the golden files of testdata/invalid")

var posRE = regexp.MustCompile(`^testdata/invalid/[a-z-]+\.cleanroom\.toml:[0-9]+:[0-9]+$`)

// TestInvalid loads every broken suite of testdata/invalid and compares
// the errors with NAME.golden, one error per line. go test -update rewrites
// the golden files; review the diff.
func TestInvalid(t *testing.T) {
	files, err := filepath.Glob("testdata/invalid/*.cleanroom.toml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test files: %v", err)
	}
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".cleanroom.toml")
		t.Run(name, func(t *testing.T) {
			s, err := suite.Load(file)
			if err == nil {
				t.Fatalf("loaded without error: %+v", s)
			}
			if s != nil {
				t.Errorf("an invalid suite returned a model too")
			}
			var list errs.ValidationErrors
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want errs.ValidationErrors: %v", err, err)
			}
			for _, e := range list {
				if !posRE.MatchString(e.Pos) {
					t.Errorf("error without a file:line:col position: %q", e.Error())
				}
			}
			var one *errs.ValidationError
			if !errors.As(err, &one) {
				t.Errorf("errors.As finds no *errs.ValidationError")
			}
			got := err.Error() + "\n"
			golden := strings.TrimSuffix(file, ".cleanroom.toml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s (go test -update rewrites it)\n--- got\n%s--- want\n%s", golden, got, want)
			}
		})
	}
}
