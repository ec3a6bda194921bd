// Package cgroupfs reads a container's resource counters from the kernel's
// cgroup files (v1 and v2), which both backends sample: the Docker backend
// for the cgroups the engine made, the local backend for its own.
package cgroupfs

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path"
	"strconv"
	"strings"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

// Files locates one container's accounting files: the kernel counters an
// engine's stats API reports, read without the engine. Paths are relative
// to the root of FS, the machine's root directory outside tests.
type Files struct {
	FS fs.FS
	// PID is the container's init process, whose network namespace gives
	// the network counters; 0 reads none (the local backend's containers
	// share one loopback-only namespace, whose counters are no one's own).
	PID int
	// Want is part of the cgroup path that proves PID still runs in the
	// container (and not a process that reused its PID).
	Want string
	V2   bool // one directory for all controllers
	// Directories of the container's cgroup per controller; on cgroup v1
	// "" for a controller the container is not in (its counters read 0).
	Memory, CPU, Pids, Blkio string
}

// Root is where cgroup filesystems are mounted: on cgroup v1 one
// directory per controller, on v2 the unified hierarchy itself.
const Root = "sys/fs/cgroup"

// Resolve finds the cgroup of host process pid, the init process of a
// container whose cgroup path contains want. It fails when the process's
// cgroup does not: the engine runs on another machine (its PIDs mean
// nothing here), or the process has exited and its PID was reused.
func Resolve(fsys fs.FS, pid int, want string) (*Files, error) {
	b, err := fs.ReadFile(fsys, procFile(pid, "cgroup"))
	if err != nil {
		return nil, err
	}
	paths := ParseProcCgroup(string(b))
	f := &Files{FS: fsys, Want: want, PID: pid}
	var own string // the path of the memory cgroup
	if p, ok := paths["memory"]; ok {
		// cgroup v1, possibly beside an empty v2 hierarchy (systemd's
		// "hybrid" layout): the memory controller decides.
		own = p
		dir := func(controller string) string {
			if p, ok := paths[controller]; ok {
				return path.Join(Root, controller, p)
			}
			return ""
		}
		f.Memory, f.CPU, f.Pids, f.Blkio = dir("memory"), dir("cpuacct"), dir("pids"), dir("blkio")
	} else if p, ok := paths[""]; ok {
		own = p
		dir := path.Join(Root, p)
		f.V2 = true
		f.Memory, f.CPU, f.Pids, f.Blkio = dir, dir, dir, dir
	} else {
		return nil, fmt.Errorf("process %d has no memory cgroup", pid)
	}
	switch {
	case strings.HasPrefix(own, "/.."):
		// Outside this process's cgroup namespace, and so outside the
		// cgroup filesystem mounted here.
		return nil, fmt.Errorf("process %d is in cgroup %s, outside this cgroup namespace", pid, own)
	case !strings.Contains(own, want):
		return nil, fmt.Errorf("process %d is not in the container's cgroup (its memory cgroup is %s)", pid, own)
	}
	return f, nil
}

func procFile(pid int, name string) string { return fmt.Sprintf("proc/%d/%s", pid, name) }

// stats reads one sample. hostMem is the machine's memory, which, like the
// engine, cleanroom takes as no memory limit at all (0: unknown).
//
// The files of a stopped container are gone (the engine removes its
// cgroup), and so is its init process: stats then fails.
func (f *Files) Stats(hostMem int64) (backend.Stats, error) {
	r := cgroupReader{fsys: f.FS}
	s := backend.Stats{At: time.Now()}
	if f.V2 {
		f.readV2(&r, &s, hostMem)
	} else {
		f.readV1(&r, &s, hostMem)
	}
	if f.PID == 0 {
		return s, r.err
	}
	s.NetRx, s.NetTx = parseNetDev(r.file("", procFile(f.PID, "net/dev")))
	if r.err != nil {
		return backend.Stats{}, r.err
	}
	// Last, so that a PID reused after the reads above is caught too.
	if own := r.file("", procFile(f.PID, "cgroup")); r.err != nil || !strings.Contains(own, f.Want) {
		return backend.Stats{}, errors.Join(fmt.Errorf("process %d no longer runs in the container", f.PID), r.err)
	}
	return s, nil
}

// readV1 reads the files of the cgroup v1 controllers memory, cpuacct,
// pids and blkio.
func (f *Files) readV1(r *cgroupReader, s *backend.Stats, hostMem int64) {
	usage := r.number(f.Memory, "memory.usage_in_bytes")
	s.Memory = Clamp(inUse(usage, Field(r.file(f.Memory, "memory.stat"), "total_inactive_file")))
	s.MemoryPeak = Clamp(r.number(f.Memory, "memory.max_usage_in_bytes"))
	s.MemoryLimit = LimitOrZero(r.limit(f.Memory, "memory.limit_in_bytes"), hostMem)
	// failcnt counts every charge that reached the limit, also those that
	// reclaiming page cache satisfied.
	s.MemoryLimitHits = r.number(f.Memory, "memory.failcnt")
	s.OOMKills = Field(r.optional(f.Memory, "memory.oom_control"), "oom_kill") // Linux 4.13+
	s.CPU = time.Duration(r.number(f.CPU, "cpuacct.usage"))
	f.readPids(r, s)
	s.BlockRead, s.BlockWrite = parseBlkio(r.optional(f.Blkio, "blkio.throttle.io_service_bytes"))
}

// readV2 reads the files of the unified hierarchy.
func (f *Files) readV2(r *cgroupReader, s *backend.Stats, hostMem int64) {
	dir := f.Memory
	usage := r.number(dir, "memory.current")
	s.Memory = Clamp(inUse(usage, Field(r.file(dir, "memory.stat"), "inactive_file")))
	if peak := r.optional(dir, "memory.peak"); peak != "" { // Linux 5.19+
		v, err := parseNumber(peak)
		r.fail(err)
		s.MemoryPeak = Clamp(v)
	}
	s.MemoryLimit = LimitOrZero(r.limit(dir, "memory.max"), hostMem)
	// "max" counts the charges that reached the limit, as v1's failcnt
	// does; the engine reports "oom" (reclaim failed) as its failcnt.
	events := r.file(dir, "memory.events")
	s.MemoryLimitHits = Field(events, "max")
	s.OOMKills = Field(events, "oom_kill")
	s.CPU = time.Duration(Field(r.file(dir, "cpu.stat"), "usage_usec")) * time.Microsecond
	f.readPids(r, s)
	s.BlockRead, s.BlockWrite = parseIOStat(r.optional(dir, "io.stat"))
}

// readPids reads the pids controller, whose files are the same under v1
// and v2. Without the controller the counts are 0, as the engine's are.
func (f *Files) readPids(r *cgroupReader, s *backend.Stats) {
	if cur := r.optional(f.Pids, "pids.current"); cur != "" {
		v, err := parseNumber(cur)
		r.fail(err)
		s.Pids = Clamp(v)
	}
	if lim := r.optional(f.Pids, "pids.max"); lim != "" {
		v, err := parseLimit(lim)
		r.fail(err)
		s.PidsLimit = LimitOrZero(v, 0)
	}
	s.PidsLimitHits = Field(r.optional(f.Pids, "pids.events"), "max")
}

// cgroupReader reads files and keeps the first error, so that a sample
// reads as a list of fields.
type cgroupReader struct {
	fsys fs.FS
	err  error
}

func (r *cgroupReader) fail(err error) {
	if r.err == nil && err != nil {
		r.err = err
	}
}

// file reads a file that every kernel has.
func (r *cgroupReader) file(dir, name string) string {
	if r.err != nil {
		return ""
	}
	b, err := fs.ReadFile(r.fsys, path.Join(dir, name))
	r.fail(err)
	return string(b)
}

// optional reads a file that older kernels or an absent controller lack,
// as "".
func (r *cgroupReader) optional(dir, name string) string {
	if r.err != nil || dir == "" {
		return ""
	}
	b, err := fs.ReadFile(r.fsys, path.Join(dir, name))
	if !errors.Is(err, fs.ErrNotExist) {
		r.fail(err)
	}
	return string(b)
}

func (r *cgroupReader) number(dir, name string) uint64 {
	v, err := parseNumber(r.file(dir, name))
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("%s: %w", path.Join(dir, name), err)
	}
	return v
}

func (r *cgroupReader) limit(dir, name string) uint64 {
	v, err := parseLimit(r.file(dir, name))
	if r.err == nil && err != nil {
		r.err = fmt.Errorf("%s: %w", path.Join(dir, name), err)
	}
	return v
}

// inUse follows `docker stats`: page cache that can be dropped is not
// memory in use.
func inUse(usage, inactiveFile uint64) uint64 {
	if inactiveFile < usage {
		return usage - inactiveFile
	}
	return usage
}

// ParseProcCgroup reads /proc/PID/cgroup: "hierarchy:controllers:path" per
// line. It maps each cgroup v1 controller to its path, and "" to the path
// in the v2 hierarchy (the line "0::path").
func ParseProcCgroup(content string) map[string]string {
	paths := map[string]string{}
	for line := range strings.Lines(content) {
		parts := strings.SplitN(strings.TrimRight(line, "\n"), ":", 3)
		if len(parts) != 3 {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			paths[""] = parts[2]
			continue
		}
		for c := range strings.SplitSeq(parts[1], ",") {
			paths[c] = parts[2]
		}
	}
	return paths
}

// parseNumber reads a file holding one number.
func parseNumber(content string) (uint64, error) {
	return strconv.ParseUint(strings.TrimSpace(content), 10, 64)
}

// parseLimit reads a limit file, where cgroup v2 writes "max" for none.
func parseLimit(content string) (uint64, error) {
	if strings.TrimSpace(content) == "max" {
		return math.MaxUint64, nil
	}
	return parseNumber(content)
}

// Field reads key from a flat keyed file ("key value" lines: memory.stat,
// memory.oom_control, memory.events, pids.events, cpu.stat); 0 when the
// key is absent.
func Field(content, key string) uint64 {
	for line := range strings.Lines(content) {
		k, v, ok := strings.Cut(strings.TrimSpace(line), " ")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
			return n
		}
	}
	return 0
}

// parseBlkio sums the bytes read and written over all devices of cgroup
// v1's blkio.throttle.io_service_bytes: "major:minor Op bytes" lines, and a
// last line "Total bytes".
func parseBlkio(content string) (read, write uint64) {
	for line := range strings.Lines(content) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		n, _ := strconv.ParseUint(f[2], 10, 64)
		switch f[1] {
		case "Read":
			read += n
		case "Write":
			write += n
		}
	}
	return read, write
}

// parseIOStat sums the bytes read and written over all devices of cgroup
// v2's io.stat: "major:minor rbytes=N wbytes=N rios=N ..." lines.
func parseIOStat(content string) (read, write uint64) {
	for line := range strings.Lines(content) {
		for _, kv := range strings.Fields(line) {
			k, v, _ := strings.Cut(kv, "=")
			n, _ := strconv.ParseUint(v, 10, 64)
			switch k {
			case "rbytes":
				read += n
			case "wbytes":
				write += n
			}
		}
	}
	return read, write
}

// parseNetDev sums the bytes received and sent over the interfaces of
// /proc/PID/net/dev, loopback excluded, as the engine does: it reports the
// interfaces it created. Two header lines, then "name: 16 counters", the
// first of receiving and the ninth of sending being bytes.
func parseNetDev(content string) (rx, tx uint64) {
	for line := range strings.Lines(content) {
		name, counters, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) == "lo" {
			continue
		}
		f := strings.Fields(counters)
		if len(f) < 9 {
			continue
		}
		r, err1 := strconv.ParseUint(f[0], 10, 64)
		t, err2 := strconv.ParseUint(f[8], 10, 64)
		if err1 == nil && err2 == nil {
			rx += r
			tx += t
		}
	}
	return rx, tx
}

// unlimited is above any real limit: cgroup v1 spells "no limit" as the
// largest page-aligned int64, v2 as "max".
const unlimited = 1 << 62

// LimitOrZero maps the ways of saying "no limit" to 0: an engine reports
// the host's memory as the memory limit of a container without one, and a
// limit at or above it limits nothing either.
func LimitOrZero(limit uint64, host int64) int64 {
	if limit >= unlimited || (host > 0 && limit >= uint64(host)) {
		return 0
	}
	return int64(limit)
}

// Clamp converts a kernel counter to int64, saturating.
func Clamp(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
