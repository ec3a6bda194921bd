// Package owner identifies the process that created a cleanroom resource, so
// that a later sweep can tell a live session from one whose runner died.
//
// An owner is "host/pid/start": the PID alone is not enough because PIDs are
// reused; the process start time (in clock ticks since boot, from
// /proc/PID/stat) makes the pair unique for the life of the machine.
package owner

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ID is a parsed owner label.
type ID struct {
	Host  string
	PID   int
	Start uint64 // process start time in clock ticks since boot; 0 if unknown
}

func (id ID) String() string { return fmt.Sprintf("%s/%d/%d", id.Host, id.PID, id.Start) }

// Parse reads an owner label written by ID.String.
func Parse(s string) (ID, error) {
	i := strings.LastIndex(s, "/")
	if i < 0 {
		return ID{}, fmt.Errorf("owner %q: want host/pid/start", s)
	}
	j := strings.LastIndex(s[:i], "/")
	if j < 0 {
		return ID{}, fmt.Errorf("owner %q: want host/pid/start", s)
	}
	pid, err := strconv.Atoi(s[j+1 : i])
	if err != nil {
		return ID{}, fmt.Errorf("owner %q: pid: %w", s, err)
	}
	start, err := strconv.ParseUint(s[i+1:], 10, 64)
	if err != nil {
		return ID{}, fmt.Errorf("owner %q: start: %w", s, err)
	}
	return ID{Host: s[:j], PID: pid, Start: start}, nil
}

// Self describes the current process.
func Self() ID { return Of(os.Getpid()) }

// Of describes process pid on this host. The start time is 0 when it cannot
// be read (not Linux, or the process is gone).
func Of(pid int) ID {
	host, _ := os.Hostname()
	start, _ := startTime(pid)
	return ID{Host: host, PID: pid, Start: start}
}

// Alive reports whether the owner may still be running. Owners on other hosts
// are always considered alive: this machine cannot see their processes, and
// removing a live session of someone else is worse than leaving garbage.
func Alive(label string) bool {
	id, err := Parse(label)
	if err != nil {
		// Not ours to judge: leave resources with an unreadable owner alone.
		return true
	}
	host, _ := os.Hostname()
	if id.Host != host {
		return true
	}
	start, err := startTime(id.PID)
	if err != nil {
		return false // no such process
	}
	return id.Start == 0 || start == id.Start
}

// startTime reads field 22 of /proc/PID/stat. The command name (field 2) may
// contain spaces and parentheses, so fields are counted after the last ')'.
func startTime(pid int) (uint64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, errors.New("malformed stat")
	}
	fields := strings.Fields(string(b[i+1:]))
	// fields[0] is field 3 (state); starttime is field 22.
	const idx = 22 - 3
	if len(fields) <= idx {
		return 0, errors.New("short stat")
	}
	return strconv.ParseUint(fields[idx], 10, 64)
}
