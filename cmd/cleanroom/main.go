// Command cleanroom runs hermetic integration tests. The commands live in
// internal/cli.
package main

import (
	"os"

	"github.com/cleanroomhq/cleanroom/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr)) }
