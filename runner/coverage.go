package runner

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/artifact"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/suite"
)

// Coverage of the code under test: a Go service built with `go build
// -cover` writes its counters to GOCOVERDIR when it exits. cleanroom
// mounts a folder of this machine there, stops the service gracefully at
// the end of the suite, and has the standard toolchain (`go tool covdata`)
// turn the counters into a profile and per-package percentages.

// coverDir is where a coverage service's counters go inside its container.
const coverDir = "/cleanroom-cover"

// coverStopGrace is how long a service gets to exit (and write its
// counters) after SIGTERM before it is killed.
const coverStopGrace = 10 * time.Second

// coverageMount prepares the host folder for a service's counters: in the
// run's output folder when there is one, else a temporary folder. The
// container may run as any user, so the folder is writable by all.
func (sr *suiteRun) coverageMount(decl *suite.Service) (string, error) {
	var dir string
	if d := sr.opts.Artifacts; d != nil {
		dir = d.Path(path.Join(sr.suiteDir(), "coverage", artifact.Name(decl.Name), "counters"))
	} else {
		tmp, err := os.MkdirTemp("", "cleanroom-cover-")
		if err != nil {
			return "", err
		}
		dir = tmp
	}
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return "", err
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	return abs, os.Chmod(abs, 0o777)
}

// collectCoverage stops every coverage service gracefully and reports what
// its counters say. It runs at the end of the suite, before the
// environment is removed.
func (sr *suiteRun) collectCoverage(ctx context.Context) {
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		if r == nil || !decl.Coverage.Value || r.coverHost == "" {
			continue
		}
		cov := &report.Coverage{}
		r.rep.Coverage = cov
		if err := r.inst.Container.Stop(ctx, coverStopGrace); err != nil {
			cov.Error = fmt.Sprintf("stopping the service to flush its counters: %v", err)
			continue
		}
		pkgs, err := coveragePercent(ctx, r.coverHost)
		if err != nil {
			cov.Error = err.Error()
			continue
		}
		cov.Packages = pkgs
		if d := sr.opts.Artifacts; d != nil {
			rel := path.Join(sr.suiteDir(), "coverage", artifact.Name(decl.Name), "coverage.out")
			if err := covdata(ctx, "textfmt", "-i", r.coverHost, "-o", d.Path(rel)); err != nil {
				cov.Error = err.Error()
				continue
			}
			if err := d.Add(rel, artifact.Entry{Kind: "coverage", Suite: sr.suite.Name.Value, Service: decl.Name}); err == nil {
				cov.Profile = rel
			}
		}
	}
}

// percentRE is a line of `go tool covdata percent`:
// "\tgithub.com/x/app\t\tcoverage: 86.9% of statements".
var percentRE = regexp.MustCompile(`^\s*(\S+)\s+coverage:\s+([0-9.]+)% of statements`)

func coveragePercent(ctx context.Context, dir string) ([]report.PackageCoverage, error) {
	entries, err := os.ReadDir(dir)
	if err != nil || len(entries) == 0 {
		return nil, fmt.Errorf("no coverage counters in %s: is the service built with go build -cover, and did it exit by itself on SIGTERM?", dir)
	}
	out, err := exec.CommandContext(ctx, "go", "tool", "covdata", "percent", "-i", dir).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("go tool covdata percent: %v: %s", err, strings.TrimSpace(string(out)))
	}
	var pkgs []report.PackageCoverage
	sc := bufio.NewScanner(strings.NewReader(string(out)))
	for sc.Scan() {
		if m := percentRE.FindStringSubmatch(sc.Text()); m != nil {
			p, _ := strconv.ParseFloat(m[2], 64)
			pkgs = append(pkgs, report.PackageCoverage{Package: m[1], Percent: p})
		}
	}
	if len(pkgs) == 0 {
		return nil, fmt.Errorf("go tool covdata percent printed no package: %s", strings.TrimSpace(string(out)))
	}
	return pkgs, nil
}

func covdata(ctx context.Context, args ...string) error {
	out, err := exec.CommandContext(ctx, "go", append([]string{"tool", "covdata"}, args...)...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool covdata %s: %v: %s", args[0], err, strings.TrimSpace(string(out)))
	}
	return nil
}
