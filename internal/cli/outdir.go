package cli

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// outDir is a run's output folder: .cleanroom/runs/<time>-<id>/ unless
// --out names one. It holds the audit log (audit.jsonl) of the containers
// the run started and the policy each ran under.
type outDir struct {
	path  string
	audit *os.File
}

// runsDir is where runs leave their output folders by default.
const runsDir = ".cleanroom/runs"

func newOutDir(path string) (*outDir, error) {
	if path == "" {
		var id [4]byte
		_, _ = rand.Read(id[:])
		path = filepath.Join(runsDir, time.Now().UTC().Format("20060102T150405Z")+"-"+hex.EncodeToString(id[:]))
	}
	if err := os.MkdirAll(path, 0o755); err != nil {
		return nil, fmt.Errorf("output folder: %w", err)
	}
	f, err := os.Create(filepath.Join(path, "audit.jsonl"))
	if err != nil {
		return nil, fmt.Errorf("audit log: %w", err)
	}
	return &outDir{path: path, audit: f}, nil
}

func (o *outDir) Close() error { return o.audit.Close() }
