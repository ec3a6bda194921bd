// Command cleanroom runs hermetic integration tests. The commands live in
// internal/cli.
package main

import (
	"os"

	tclog "github.com/testcontainers/testcontainers-go/log"

	"github.com/cleanroomhq/cleanroom/internal/cli"
)

func main() {
	// testcontainers announces every engine connection on stderr; the
	// command reports its own progress, and -v says what the engine did.
	tclog.SetDefault(tclog.NewNoopLogger())
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
}
