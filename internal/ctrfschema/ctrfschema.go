// Package ctrfschema gives tests CTRF's published JSON schema, compiled:
// the file scripts/ctrf-schema.sh takes from the npm package ctrf (the CTRF
// project's reference implementation) into the repository's .cache/ctrf,
// or the one CLEANROOM_CTRF_SCHEMA names.
package ctrfschema

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// File is the schema's path relative to the repository's root.
const File = ".cache/ctrf/ctrf-schema-0.0.json"

// Load compiles the schema with formats asserted, as CTRF's own validator
// (ajv with ajv-formats) checks uuid and date-time. Without the file the
// test fails saying how to fetch it, unless it runs under -short.
func Load(t testing.TB) *jsonschema.Schema {
	t.Helper()
	path := os.Getenv("CLEANROOM_CTRF_SCHEMA")
	if path == "" {
		root, err := repoRoot()
		if err != nil {
			t.Fatal(err)
		}
		path = filepath.Join(root, File)
	}
	f, err := os.Open(path)
	if err != nil {
		if testing.Short() {
			t.Skipf("CTRF schema: %v (run scripts/ctrf-schema.sh)", err)
		}
		t.Fatalf("CTRF schema: %v: run scripts/ctrf-schema.sh (make test does), or set CLEANROOM_CTRF_SCHEMA", err)
	}
	defer f.Close()
	doc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatalf("CTRF schema %s: %v", path, err)
	}
	c := jsonschema.NewCompiler()
	c.AssertFormat()
	url := "file://" + filepath.ToSlash(path)
	if err := c.AddResource(url, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(url)
	if err != nil {
		t.Fatalf("CTRF schema %s: %v", path, err)
	}
	return sch
}

// repoRoot is the nearest directory above the working directory (a test's
// package) that holds go.mod.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", os.ErrNotExist
		}
		dir = parent
	}
}
