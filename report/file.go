package report

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
)

// Report formats, as WriteFile and the --report-* flags name them.
const (
	FormatJSON  = "json"
	FormatJUnit = "junit"
	// FormatHTML is one self-contained page for people: no scripts and
	// nothing fetched, so it reads the same from a CI artifact, a
	// file:// URL or with JS off.
	FormatHTML = "html"
)

// WriteFile writes r to path in format (FormatJSON, FormatJUnit,
// FormatCTRF or FormatHTML). It creates missing parent directories and
// replaces path atomically: the report is written to a temporary file in the same directory, synced and
// renamed, so a reader (a CI step, a second run) never sees half a report
// and a failed write leaves the previous report in place.
func WriteFile(path, format string, r *Run) error {
	var buf bytes.Buffer
	var err error
	switch format {
	case FormatJSON:
		err = WriteJSON(&buf, r)
	case FormatJUnit:
		err = WriteJUnit(&buf, r)
	case FormatCTRF:
		err = WriteCTRF(&buf, r)
	case FormatHTML:
		err = WriteHTML(&buf, r)
	default:
		return fmt.Errorf("report: unknown format %q (want %q, %q, %q or %q)", format, FormatJSON, FormatJUnit, FormatCTRF, FormatHTML)
	}
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	done := false
	defer func() {
		if !done {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err := tmp.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	// CreateTemp makes the file 0600, but a report is for other users
	// and tools (a CI agent) to read.
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		done = true
		return fmt.Errorf("report: writing %s: %w", path, err)
	}
	done = true
	return nil
}
