package suite_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/suite"
)

// FuzzLoad feeds arbitrary bytes to the loader: it must never panic, and
// must either return a suite or positioned validation errors.
//
//	go test -run '^$' -fuzz FuzzLoad -fuzztime 30s ./suite/
func FuzzLoad(f *testing.F) {
	files, _ := filepath.Glob("testdata/*/*.cleanroom.toml")
	for _, file := range files {
		src, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	f.Add([]byte("a = [[[[{b = [1, {c = 'x'}]}]]]]\n[[scenario]]\n[[scenario.step]]\n"))
	f.Add([]byte("[[scenario]]\n[[scenario.step]]\nimage = \"b\"\nexec = [\"{{ range $i, $v := .vars }}{{ $.services.x }}{{ end }}\"]\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		// The file sits in testdata/valid so that its relative paths
		// resolve as the corpus expects.
		s, err := suite.Parse("testdata/valid/fuzz.cleanroom.toml", src)
		if err == nil {
			if s == nil {
				t.Fatal("no suite and no error")
			}
			return
		}
		var list errs.ValidationErrors
		if !errors.As(err, &list) || len(list) == 0 {
			t.Fatalf("error %T is not ValidationErrors: %v", err, err)
		}
		for _, e := range list {
			if e.Pos == "" || e.Message == "" {
				t.Fatalf("unpositioned or empty error: %#v", e)
			}
		}
	})
}
