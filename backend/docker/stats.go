package docker

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
)

// Stats takes one sample through the engine's stats API, one-shot: the
// engine skips the second sample it otherwise takes to prime CPU deltas
// (cleanroom computes deltas from its own samples).
//
// One-shot does not make every call immediate. The engine gathers stats of
// all containers in one collector loop that rests a second after each
// round, and a request waits for the next round: a call made within a
// second of another stats request to the same engine (for any container)
// takes the rest of that second; an isolated call takes milliseconds.
//
// A container that is not running has no sample (the engine returns an
// empty one); Stats then returns a *errs.BackendError.
func (c *dockerContainer) Stats(ctx context.Context) (backend.Stats, error) {
	res, err := c.b.cli.ContainerStats(ctx, c.id, client.ContainerStatsOptions{Stream: false, IncludePreviousSample: false})
	if err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	defer res.Body.Close()
	var raw container.StatsResponse
	if err := json.NewDecoder(res.Body).Decode(&raw); err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	if raw.Read.IsZero() {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: errNotRunning}
	}
	hostMem, err := c.b.hostMemory(ctx)
	if err != nil {
		return backend.Stats{}, &errs.BackendError{Backend: Name, Op: "stats", Target: c.name, Err: err}
	}
	return convertStats(raw, hostMem), nil
}

var errNotRunning = errors.New("container is not running")

// convertStats turns the engine's sample into backend.Stats. hostMem is the
// engine's total memory, which it reports as the limit of a container
// without one; 0 when unknown.
func convertStats(raw container.StatsResponse, hostMem int64) backend.Stats {
	s := backend.Stats{
		At:   raw.Read,
		CPU:  time.Duration(raw.CPUStats.CPUUsage.TotalUsage),
		Pids: clampInt64(raw.PidsStats.Current),
	}
	if raw.OSType == "windows" {
		s.CPU *= 100 // 100 ns units
	}

	mem := raw.MemoryStats
	s.Memory = clampInt64(memoryInUse(mem))
	s.MemoryPeak = clampInt64(mem.MaxUsage) // cgroup v1 only
	s.MemoryLimit = limitOrZero(mem.Limit, hostMem)
	s.PidsLimit = limitOrZero(raw.PidsStats.Limit, 0)
	s.MemoryLimitHits = mem.Failcnt
	if s.MemoryLimitHits == 0 {
		// cgroup v2 has no failcnt; some engines pass memory.events on.
		s.MemoryLimitHits = max(mem.Stats["oom"], mem.Stats["oom_kill"])
	}

	for _, n := range raw.Networks {
		s.NetRx += n.RxBytes
		s.NetTx += n.TxBytes
	}
	// cgroup v1 reports ops "Read", "Write", "Sync", "Async", "Total" per
	// device; cgroup v2 reports "read" and "write".
	for _, e := range raw.BlkioStats.IoServiceBytesRecursive {
		switch {
		case strings.EqualFold(e.Op, "read"):
			s.BlockRead += e.Value
		case strings.EqualFold(e.Op, "write"):
			s.BlockWrite += e.Value
		}
	}
	return s
}

// memoryInUse follows `docker stats`: the usage less the inactive page
// cache, which the kernel reclaims before it would fail an allocation.
func memoryInUse(mem container.MemoryStats) uint64 {
	// cgroup v1
	if v, ok := mem.Stats["total_inactive_file"]; ok && v < mem.Usage {
		return mem.Usage - v
	}
	// cgroup v2
	if v, ok := mem.Stats["inactive_file"]; ok && v < mem.Usage {
		return mem.Usage - v
	}
	return mem.Usage
}

// unlimited is above any real limit: cgroup v1 spells "no limit" as the
// largest page-aligned int64, v2 as "max".
const unlimited = 1 << 62

// limitOrZero maps the engine's ways of saying "no limit" to 0: the engine
// reports the host's memory as the memory limit of a container without
// one, and a limit at or above it limits nothing either.
func limitOrZero(limit uint64, host int64) int64 {
	if limit >= unlimited || (host > 0 && limit >= uint64(host)) {
		return 0
	}
	return int64(limit)
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// hostMemories caches each engine's total memory, by daemon address: it
// does not change while the engine runs, and asking on every sample would
// add an engine call to every step.
var hostMemories sync.Map // string → int64

func (b *Backend) hostMemory(ctx context.Context) (int64, error) {
	key := b.cli.DaemonHost()
	if v, ok := hostMemories.Load(key); ok {
		return v.(int64), nil
	}
	info, err := b.cli.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, err
	}
	hostMemories.Store(key, info.Info.MemTotal)
	return info.Info.MemTotal, nil
}

// State inspects the container.
func (c *dockerContainer) State(ctx context.Context) (backend.State, error) {
	res, err := c.b.cli.ContainerInspect(ctx, c.id, client.ContainerInspectOptions{})
	if err != nil {
		return backend.State{}, &errs.BackendError{Backend: Name, Op: "state", Target: c.name, Err: err}
	}
	st := res.Container.State
	if st == nil {
		return backend.State{}, &errs.BackendError{Backend: Name, Op: "state", Target: c.name, Err: errors.New("the engine reported no state")}
	}
	return backend.State{
		Running:    st.Running,
		ExitCode:   st.ExitCode,
		OOMKilled:  st.OOMKilled,
		Error:      st.Error,
		StartedAt:  engineTime(st.StartedAt),
		FinishedAt: engineTime(st.FinishedAt),
	}, nil
}

// engineTime parses the engine's RFC 3339 times. The engine writes the zero
// time as "0001-01-01T00:00:00Z" for what has not happened yet; that, like
// anything unparsable, is the zero time.Time.
func engineTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
