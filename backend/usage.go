package backend

import (
	"context"
	"sync"
	"time"

	"github.com/cleanroomhq/cleanroom/policy"
)

// Usage is what a container used over a span of time (one step): CPU time,
// network and block I/O as differences of the engine's counters, memory
// and processes as the highest value seen.
type Usage struct {
	CPU         time.Duration
	MemoryPeak  int64
	MemoryLimit int64
	PidsPeak    int64
	PidsLimit   int64
	NetRx       uint64
	NetTx       uint64
	BlockRead   uint64
	BlockWrite  uint64
	// MemoryLimitHits is how often the memory limit was reached during the
	// span; with an exit code of 137 it means the kernel's OOM killer.
	MemoryLimitHits uint64
	// OOMKills counts the processes the kernel's OOM killer killed during
	// the span, exec'd ones included; 0 where the backend does not know.
	OOMKills uint64
	// PidsLimitHits counts the forks the process limit refused during the
	// span; 0 where the backend does not know.
	PidsLimitHits uint64
	// OOMKilled is the engine's own verdict on a container that stopped.
	OOMKilled bool
	Samples   int
}

// Sampler samples a container's Stats from Start until Stop, so that a
// peak between samples of a short step is not lost entirely: the engine's
// lifetime memory peak is read at both ends, and in between it samples
// every interval.
type Sampler struct {
	c        Container
	interval time.Duration

	mu      sync.Mutex
	first   Stats
	last    Stats
	peakMem int64
	peakPid int64
	n       int
	err     error

	stop     chan struct{}
	done     chan struct{}
	stopOnce sync.Once
	usage    Usage
}

// DefaultSampleInterval is how often a Sampler samples while a step runs.
const DefaultSampleInterval = 200 * time.Millisecond

// StartSampler takes the first sample at once and keeps sampling every
// interval in the background until Stop. An error on the first sample is
// returned; later ones end the sampling quietly (the container may have
// stopped, which the caller learns from State).
func StartSampler(ctx context.Context, c Container, interval time.Duration) (*Sampler, error) {
	first, err := c.Stats(ctx)
	if err != nil {
		return nil, err
	}
	s := &Sampler{c: c, interval: interval, first: first, stop: make(chan struct{}), done: make(chan struct{})}
	s.add(first)
	go s.loop(ctx)
	return s, nil
}

func (s *Sampler) loop(ctx context.Context) {
	defer close(s.done)
	t := time.NewTicker(s.interval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-ctx.Done():
			return
		case <-t.C:
			st, err := s.c.Stats(ctx)
			if err != nil {
				return
			}
			s.add(st)
		}
	}
}

func (s *Sampler) add(st Stats) {
	if st.CPU == 0 && st.Memory == 0 && st.Pids == 0 {
		// A stopped container's sample: empty, and it would read as
		// counters going back to zero.
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.last = st
	s.n++
	s.peakMem = max(s.peakMem, st.Memory)
	s.peakPid = max(s.peakPid, st.Pids)
}

// Stop takes a last sample (when the container still answers) and returns
// the usage between the first sample and the last. Later calls return the
// same usage, so a deferred Stop is safe beside an explicit one.
func (s *Sampler) Stop(ctx context.Context) Usage {
	s.stopOnce.Do(func() {
		close(s.stop)
		<-s.done
		if st, err := s.c.Stats(ctx); err == nil {
			s.add(st)
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.usage = Between(s.first, s.last, s.peakMem, s.peakPid, s.n)
	})
	return s.usage
}

// Between computes the usage between two samples of one container, given
// the highest memory and process counts sampled in between. When the
// engine's lifetime memory peak rose between the two, the new peak was
// reached during the span, and it is exact where sampling may have missed
// it.
func Between(first, last Stats, peakMem, peakPids int64, samples int) Usage {
	u := Usage{
		CPU:         last.CPU - first.CPU,
		MemoryPeak:  max(peakMem, first.Memory, last.Memory),
		MemoryLimit: last.MemoryLimit,
		PidsPeak:    max(peakPids, first.Pids, last.Pids),
		PidsLimit:   last.PidsLimit,
		NetRx:       sub(last.NetRx, first.NetRx),
		NetTx:       sub(last.NetTx, first.NetTx),
		BlockRead:   sub(last.BlockRead, first.BlockRead),
		BlockWrite:  sub(last.BlockWrite, first.BlockWrite),
		Samples:     samples,
	}
	u.MemoryLimitHits = sub(last.MemoryLimitHits, first.MemoryLimitHits)
	u.OOMKills = sub(last.OOMKills, first.OOMKills)
	u.PidsLimitHits = sub(last.PidsLimitHits, first.PidsLimitHits)
	if last.MemoryPeak > first.MemoryPeak {
		u.MemoryPeak = max(u.MemoryPeak, last.MemoryPeak)
	}
	if u.CPU < 0 {
		u.CPU = 0
	}
	return u
}

// sub is a counter difference that tolerates a counter reset (a restarted
// container) by treating it as starting from zero.
func sub(a, b uint64) uint64 {
	if a < b {
		return a
	}
	return a - b
}

// RunUsage is what a one-shot container (Session.Run) used while it ran:
// the sampler's figures (none when it could not start), whether the kernel
// OOM-killed a process of it, and the limits it ran under. It survives a
// cancelled ctx: a run that timed out is reported too.
func RunUsage(ctx context.Context, s *Sampler, c Container, p policy.Policy) *Usage {
	ctx = context.WithoutCancel(ctx)
	var u Usage
	if s != nil {
		u = s.Stop(ctx)
	}
	if st, err := c.State(ctx); err == nil {
		u.OOMKilled = st.OOMKilled
	}
	u.MemoryLimit, u.PidsLimit = p.Memory, p.Pids
	return &u
}
