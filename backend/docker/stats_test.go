package docker

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/internal/owner"
)

// The images of these tests: busybox for the small things, and the
// PostgreSQL fixture for perl, which allocates memory on demand.
const (
	statsBusybox = "cleanroom-fixtures/busybox:1"
	statsPerl    = "cleanroom-fixtures/postgres:15"
)

// mib is one MiB.
const mib = 1 << 20

// TestStatsConversion covers the engine API path, which Stats takes only
// when the cgroup files are out of reach (an engine on another machine),
// so not here: block I/O (this kernel accounts none to containers), cgroup
// v2 samples, and the engine's ways of saying "unlimited".
func TestStatsConversion(t *testing.T) {
	const host = 8 << 30
	read := time.Date(2026, 1, 2, 3, 4, 5, 6, time.UTC)
	v1 := container.StatsResponse{
		Read:      read,
		CPUStats:  container.CPUStats{CPUUsage: container.CPUUsage{TotalUsage: 1_500_000_000}},
		PidsStats: container.PidsStats{Current: 7},
		MemoryStats: container.MemoryStats{
			Usage: 300 * mib, MaxUsage: 400 * mib, Failcnt: 12, Limit: host,
			Stats: map[string]uint64{"total_inactive_file": 100 * mib, "inactive_file": 1, "cache": 150 * mib},
		},
		Networks: map[string]container.NetworkStats{
			"eth0": {RxBytes: 10, TxBytes: 20},
			"eth1": {RxBytes: 100, TxBytes: 200},
		},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Major: 8, Op: "Read", Value: 1000}, {Major: 8, Op: "Write", Value: 2000},
			{Major: 8, Op: "Sync", Value: 1}, {Major: 8, Op: "Async", Value: 1}, {Major: 8, Op: "Total", Value: 3000},
			{Major: 9, Op: "Read", Value: 5}, {Major: 9, Op: "Write", Value: 7},
		}},
	}
	got := convertStats(v1, host)
	want := backend.Stats{
		At: read, CPU: 1500 * time.Millisecond, Memory: 200 * mib, MemoryPeak: 400 * mib, MemoryLimit: 0,
		Pids: 7, PidsLimit: 0, NetRx: 110, NetTx: 220, BlockRead: 1005, BlockWrite: 2007, MemoryLimitHits: 12,
	}
	if got != want {
		t.Errorf("cgroup v1 sample without limits:\n got %+v\nwant %+v", got, want)
	}

	v1.MemoryStats.Limit = 64 * mib
	v1.PidsStats.Limit = 64
	if got := convertStats(v1, host); got.MemoryLimit != 64*mib || got.PidsLimit != 64 {
		t.Errorf("cgroup v1 limits: got memory %d, pids %d; want %d, 64", got.MemoryLimit, got.PidsLimit, 64*mib)
	}
	// A limit above the host's memory limits nothing; an unknown host
	// size still recognises cgroup v1's "no limit".
	v1.MemoryStats.Limit = host + 1
	if got := convertStats(v1, host).MemoryLimit; got != 0 {
		t.Errorf("memory limit above the host's memory: got %d, want 0", got)
	}
	v1.MemoryStats.Limit = 9223372036854771712
	if got := convertStats(v1, 0).MemoryLimit; got != 0 {
		t.Errorf("cgroup v1 unlimited memory with the host's size unknown: got %d, want 0", got)
	}

	v2 := container.StatsResponse{
		Read: read,
		MemoryStats: container.MemoryStats{
			Usage: 50 * mib, Limit: 32 * mib,
			Stats: map[string]uint64{"anon": 40 * mib, "file": 10 * mib, "inactive_file": 6 * mib, "oom_kill": 2},
		},
		BlkioStats: container.BlkioStats{IoServiceBytesRecursive: []container.BlkioStatEntry{
			{Major: 254, Op: "read", Value: 4096}, {Major: 254, Op: "write", Value: 8192},
		}},
	}
	got = convertStats(v2, host)
	if got.Memory != 44*mib || got.MemoryPeak != 0 || got.MemoryLimit != 32*mib || got.MemoryLimitHits != 2 ||
		got.OOMKills != 2 || got.BlockRead != 4096 || got.BlockWrite != 8192 {
		t.Errorf("cgroup v2 sample: got %+v; want Memory %d (usage less inactive_file), no peak, limit %d, 2 limit hits, 2 OOM kills, block I/O 4096/8192",
			got, 44*mib, 32*mib)
	}
}

// TestStatsFastPath: with the engine on this machine, Stats reads the
// container's cgroup files, which agree with the engine's own sample taken
// between two of them; and it asks the engine when the files are out of
// reach.
func TestStatsFastPath(t *testing.T) {
	b, sess := statsSession(t)
	c := startFor(t, sess, "fast", statsBusybox, "sleep", "86400")
	limit(t, b, c, 64*mib, 64*mib, 50)
	hostMem, err := b.hostMemory(t.Context())
	if err != nil {
		t.Fatal(err)
	}

	first := sample(t, c)
	engine, err := c.engineStats(t.Context(), hostMem)
	if err != nil {
		t.Fatalf("engine API sample: %v", err)
	}
	last := sample(t, c)

	counters := []struct {
		name             string
		first, eng, last uint64
	}{
		{"CPU", uint64(first.CPU), uint64(engine.CPU), uint64(last.CPU)},
		{"MemoryPeak", uint64(first.MemoryPeak), uint64(engine.MemoryPeak), uint64(last.MemoryPeak)},
		{"NetRx", first.NetRx, engine.NetRx, last.NetRx},
		{"NetTx", first.NetTx, engine.NetTx, last.NetTx},
		{"BlockRead", first.BlockRead, engine.BlockRead, last.BlockRead},
		{"BlockWrite", first.BlockWrite, engine.BlockWrite, last.BlockWrite},
		{"MemoryLimitHits", first.MemoryLimitHits, engine.MemoryLimitHits, last.MemoryLimitHits},
	}
	for _, k := range counters {
		if k.first > k.eng || k.eng > k.last {
			t.Errorf("%s: the engine's sample %d is not between the cgroup files' %d and %d", k.name, k.eng, k.first, k.last)
		}
	}
	if last.MemoryLimit != engine.MemoryLimit || last.MemoryLimit != 64*mib ||
		last.PidsLimit != engine.PidsLimit || last.PidsLimit != 50 || last.Pids != engine.Pids {
		t.Errorf("limits and processes: cgroup files %+v, engine %+v; want both with limits %d and 50, the same Pids",
			last, engine, 64*mib)
	}
	if d := last.Memory - engine.Memory; d < -mib || d > mib {
		t.Errorf("Memory of an idle container: cgroup files %d, engine %d; want within 1 MiB", last.Memory, engine.Memory)
	}

	// Files out of reach, as for an engine on another machine.
	c.mu.Lock()
	c.cg, c.cgKnown = nil, true
	c.mu.Unlock()
	if s, src, err := c.stats(t.Context()); err != nil || src != fromEngine || s.Pids != last.Pids {
		t.Errorf("Stats without the cgroup files: got %+v from the %s, error %v; want a sample from the %s", s, src, err, fromEngine)
	}
	c.forgetCgroup()
	sample(t, c) // back on the cgroup files
}

// TestStatsMemory: perl holding a 100 MiB string shows in Memory and
// MemoryPeak, and a container without limits reports none.
func TestStatsMemory(t *testing.T) {
	_, sess := statsSession(t)
	c := startFor(t, sess, "hog", statsPerl, "perl", "-e", `$x = "a" x (100*1024*1024); sleep 300`)

	s := waitStats(t, c, "Memory above 100 MiB", func(s backend.Stats) bool { return s.Memory > 100*mib })
	// The peak is the engine's raw maximum, page cache included: never
	// below Memory.
	if s.MemoryPeak < s.Memory || s.MemoryPeak <= 100*mib {
		t.Errorf("MemoryPeak: got %d with Memory %d, want above 100 MiB and not below Memory", s.MemoryPeak, s.Memory)
	}
	if s.MemoryLimit != 0 || s.PidsLimit != 0 {
		t.Errorf("limits of a container without any: got memory %d, pids %d; want 0, 0", s.MemoryLimit, s.PidsLimit)
	}
	if s.Pids < 1 || s.CPU <= 0 || s.MemoryLimitHits != 0 {
		t.Errorf("sample of a running container: got %+v; want Pids >= 1, CPU > 0, no limit hits", s)
	}
	if d := time.Since(s.At); d < -time.Minute || d > time.Minute {
		t.Errorf("Stats.At: got %s, %s from now; want about now", s.At, d)
	}
}

// TestStatsCPUPidsNetwork: the counters grow with what the container does.
func TestStatsCPUPidsNetwork(t *testing.T) {
	_, sess := statsSession(t)

	t.Run("CPU", func(t *testing.T) {
		c := startFor(t, sess, "spinner", statsBusybox, "sh", "-c", "while :; do :; done")
		first := sample(t, c)
		time.Sleep(time.Second)
		second := sample(t, c)
		// A second of spinning; the machine is shared, so a fraction of it.
		if d := second.CPU - first.CPU; d < 100*time.Millisecond {
			t.Errorf("CPU over %s of a busy loop: grew by %s (from %s to %s), want at least 100ms",
				second.At.Sub(first.At), d, first.CPU, second.CPU)
		}
		if !second.At.After(first.At) {
			t.Errorf("At of the later sample %s: want after %s", second.At, first.At)
		}
	})

	t.Run("Pids", func(t *testing.T) {
		c := startFor(t, sess, "forker", statsBusybox, "sleep", "86400")
		before := sample(t, c)
		execOK(t, c, "for i in 1 2 3 4 5; do sleep 300 >/dev/null 2>&1 & done")
		after := sample(t, c)
		if after.Pids < before.Pids+5 {
			t.Errorf("Pids after starting 5 sleeps: got %d (before %d), want at least %d", after.Pids, before.Pids, before.Pids+5)
		}
	})

	t.Run("Network", func(t *testing.T) {
		const size = 2 * mib
		started, err := sess.Start(t.Context(), backend.ContainerSpec{
			Name: "web", Image: statsBusybox, Pull: backend.PullNever,
			Cmd:   []string{"httpd", "-f", "-p", "8080", "-h", "/www"},
			Ports: []int{8080},
			Files: []backend.File{{Path: "/www/big", Content: bytes.Repeat([]byte("x"), size)}},
		})
		if err != nil {
			t.Fatalf("Start: %v", err)
		}
		c := started.(*dockerContainer)
		before := sample(t, c)
		host, port, err := c.Endpoint(t.Context(), 8080)
		if err != nil {
			t.Fatal(err)
		}
		body := httpGet(t, fmt.Sprintf("http://%s:%d/big", host, port))
		if len(body) != size {
			t.Fatalf("GET /big: got %d bytes, want %d", len(body), size)
		}
		after := sample(t, c)
		if after.NetTx < before.NetTx+size {
			t.Errorf("NetTx after serving %d bytes: got %d (before %d), want at least %d more", size, after.NetTx, before.NetTx, size)
		}
		if after.NetRx <= before.NetRx {
			t.Errorf("NetRx after a request: got %d (before %d), want more", after.NetRx, before.NetRx)
		}
	})
}

// TestStatsOOMKilledContainer: a container whose main process outgrows its
// memory limit ends OOMKilled with exit code 137.
//
// On cgroup v1, failcnt counts every time usage reached the limit,
// including those the kernel resolved by reclaiming page cache; the sample
// before the allocation shows such hits without any kill. The failed
// allocation itself cannot be sampled: the process dies within about 100 ms
// of reaching the limit, and the engine has no sample of a stopped
// container (its cgroup is gone).
func TestStatsOOMKilledContainer(t *testing.T) {
	b, sess := statsSession(t)
	// The limit must be in place before the allocation: the main process
	// waits for /tmp/go.
	c := startFor(t, sess, "oom", statsPerl, "sh", "-c",
		`while [ ! -e /tmp/go ]; do sleep 0.05; done; exec perl -e '$x = "a" x (200*1024*1024); sleep 30'`)
	limit(t, b, c, 64*mib, 128*mib, 64)

	s := sample(t, c)
	if s.MemoryLimit != 64*mib || s.PidsLimit != 64 {
		t.Errorf("limits after update: got memory %d, pids %d; want %d, 64", s.MemoryLimit, s.PidsLimit, 64*mib)
	}
	if s.MemoryLimitHits != 0 {
		t.Errorf("MemoryLimitHits before anything reached the limit: got %d, want 0", s.MemoryLimitHits)
	}

	// 150 MiB written to a file in 64 MiB: the page cache reaches the limit
	// and is reclaimed; nothing is killed.
	execOK(t, c, "dd if=/dev/zero of=/tmp/fill bs=1M count=150 2>/dev/null && rm /tmp/fill")
	s = sample(t, c)
	if s.MemoryLimitHits == 0 {
		t.Errorf("MemoryLimitHits after filling the page cache past the limit: got 0, want > 0")
	}
	if st := stateOf(t, c); !st.Running || st.OOMKilled {
		t.Errorf("State after a limit hit resolved by reclaim: got %+v, want Running, not OOMKilled", st)
	}
	t.Logf("limit hits from page cache alone: %d", s.MemoryLimitHits)

	execOK(t, c, "touch /tmp/go")
	st := waitState(t, c, "the container to die", func(st backend.State) bool { return !st.Running })
	if !st.OOMKilled || st.ExitCode != 137 {
		t.Errorf("State of a container killed for memory: got %+v, want OOMKilled, ExitCode 137", st)
	}
	if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("State times: started %s, finished %s; want both, in order", st.StartedAt, st.FinishedAt)
	}
	_, err := c.Stats(t.Context())
	var be *errs.BackendError
	if !errors.As(err, &be) {
		t.Errorf("Stats of a stopped container: got %v, want a *errs.BackendError", err)
	}
}

// TestStatsOOMKilledExec: a command exec'd in a limited container that
// outgrows the limit is killed (exit code 137) while the container runs on.
// The container's State does not say so while it runs (OOMKilled is false);
// OOMKills does, from the memory cgroup's count of OOM kills.
//
// Whether MemoryLimitHits shows it depends on the swap limit. The engine
// reports cgroup v1's memory.failcnt; the kernel charges memory+swap first,
// so when that limit equals the memory limit (no swap allowed), the charge
// fails there and memory.failcnt stays 0 through the kill. With docker's
// default for a memory limit alone (memory+swap twice the memory), it
// grows. What OOMKilled says once the container stops is logged: on Docker
// 20.10 it is true, whatever stopped the container.
func TestStatsOOMKilledExec(t *testing.T) {
	b, sess := statsSession(t)
	for _, tc := range []struct {
		name           string
		swap           int64 // memory+swap limit
		hitsAreCounted bool
	}{
		{"SwapEqualToLimit", 64 * mib, false},
		{"DockerDefaultSwap", 128 * mib, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startFor(t, sess, "host-"+strings.ToLower(tc.name), statsPerl, "sleep", "86400")
			limit(t, b, c, 64*mib, tc.swap, 0)

			before := sample(t, c)
			res, err := c.Exec(t.Context(), backend.ExecSpec{
				Cmd:     []string{"perl", "-e", `$x = "a" x (200*1024*1024); print "survived\n"`},
				Timeout: time.Minute,
			})
			if err != nil {
				t.Fatalf("Exec: %v", err)
			}
			if res.ExitCode != 137 {
				t.Errorf("exit code of an exec'd process over the memory limit: got %d (stdout %q, stderr %q), want 137", res.ExitCode, res.Stdout, res.Stderr)
			}
			after := sample(t, c)
			t.Logf("exec exit %d; MemoryLimitHits %d -> %d; OOMKills %d -> %d; MemoryPeak %d of limit %d",
				res.ExitCode, before.MemoryLimitHits, after.MemoryLimitHits, before.OOMKills, after.OOMKills, after.MemoryPeak, after.MemoryLimit)
			// The kill is counted whatever the swap limit.
			if before.OOMKills != 0 || after.OOMKills < 1 {
				t.Errorf("OOMKills across the exec: %d then %d, want 0 then at least 1", before.OOMKills, after.OOMKills)
			}
			if u := backend.Between(before, after, 0, 0, 2); u.OOMKills < 1 {
				t.Errorf("Usage.OOMKills across the exec: got %d, want at least 1", u.OOMKills)
			}
			if tc.hitsAreCounted && after.MemoryLimitHits <= before.MemoryLimitHits {
				t.Errorf("MemoryLimitHits across the exec: %d then %d, want growth", before.MemoryLimitHits, after.MemoryLimitHits)
			}
			if after.MemoryPeak < after.MemoryLimit {
				t.Errorf("MemoryPeak after reaching the limit: got %d, want at least the limit %d", after.MemoryPeak, after.MemoryLimit)
			}

			st := stateOf(t, c)
			if !st.Running || st.OOMKilled {
				t.Errorf("State of the container whose exec was killed for memory: got %+v, want Running and not OOMKilled", st)
			}
			if err := c.Stop(t.Context(), 0); err != nil {
				t.Fatalf("Stop: %v", err)
			}
			st = stateOf(t, c)
			if st.Running {
				t.Errorf("State after Stop: got %+v, want not Running", st)
			}
			t.Logf("after Stop(0): OOMKilled %v, ExitCode %d", st.OOMKilled, st.ExitCode)
		})
	}
}

// TestStatsPidsLimitHits: forks refused by the process limit are counted.
func TestStatsPidsLimitHits(t *testing.T) {
	b, sess := statsSession(t)
	c := startFor(t, sess, "forker", statsBusybox, "sleep", "86400")
	limit(t, b, c, 0, 0, 32)

	before := sample(t, c)
	if before.PidsLimitHits != 0 || before.PidsLimit != 32 {
		t.Errorf("before forking: got PidsLimitHits %d, PidsLimit %d; want 0, 32", before.PidsLimitHits, before.PidsLimit)
	}
	// The sleeps must not hold the exec's output open, or Exec waits for
	// them.
	res, err := c.Exec(t.Context(), backend.ExecSpec{
		Cmd:     []string{"sh", "-c", `i=0; while [ $i -lt 100 ]; do sleep 30 >/dev/null 2>&1 & i=$((i+1)); done`},
		Timeout: time.Minute,
	})
	if err != nil {
		t.Fatalf("Exec: %v", err)
	}
	after := sample(t, c)
	t.Logf("exec exit %d, stderr %q; Pids %d; PidsLimitHits %d", res.ExitCode, res.Stderr, after.Pids, after.PidsLimitHits)
	if after.PidsLimitHits < 1 || after.Pids > 32 {
		t.Errorf("after starting 100 sleeps under a limit of 32: got PidsLimitHits %d, Pids %d; want at least 1, at most 32",
			after.PidsLimitHits, after.Pids)
	}
	if u := backend.Between(before, after, 0, 0, 2); u.PidsLimitHits != after.PidsLimitHits-before.PidsLimitHits {
		t.Errorf("Usage.PidsLimitHits: got %d, want %d", u.PidsLimitHits, after.PidsLimitHits-before.PidsLimitHits)
	}
}

// TestStateLifecycle: a container that exits on its own, and one that is
// gone.
func TestStateLifecycle(t *testing.T) {
	_, sess := statsSession(t)
	c := startFor(t, sess, "brief", statsBusybox, "sh", "-c", "sleep 1; exit 3")
	st := stateOf(t, c)
	if !st.Running || st.StartedAt.IsZero() || !st.FinishedAt.IsZero() {
		t.Errorf("State while running: got %+v, want Running, StartedAt set, FinishedAt zero", st)
	}
	st = waitState(t, c, "the container to exit", func(st backend.State) bool { return !st.Running })
	if st.ExitCode != 3 || st.OOMKilled || st.Error != "" || st.FinishedAt.Before(st.StartedAt) {
		t.Errorf("State after exit 3: got %+v, want ExitCode 3, not OOMKilled, no error, finished after started", st)
	}

	if err := c.Remove(t.Context()); err != nil {
		t.Fatal(err)
	}
	for name, call := range map[string]func() error{
		"State": func() error { _, err := c.State(t.Context()); return err },
		"Stats": func() error { _, err := c.Stats(t.Context()); return err },
	} {
		err := call()
		var be *errs.BackendError
		if !errors.As(err, &be) || !isNotFound(err) {
			t.Errorf("%s of a removed container: got %v, want a *errs.BackendError wrapping a not-found error", name, err)
		}
	}
}

// BenchmarkStats measures one Stats call, which reads the cgroup files,
// against one call to the engine's stats API and one State call. The
// engine's stats collector runs once a second for all containers, so API
// calls back to back each wait for its next round, while calls more than a
// second apart do not.
//
//	go test -run '^$' -bench Stats -benchtime 20x ./backend/docker/
func BenchmarkStats(b *testing.B) {
	bk, err := New(b.Context())
	if err != nil {
		b.Skipf("no Docker engine: %v", err)
	}
	b.Cleanup(func() { _ = bk.Close() })
	sess := newStatsSession(b, bk)
	started, err := sess.Start(b.Context(), backend.ContainerSpec{Name: "bench", Image: statsBusybox, Pull: backend.PullNever, Cmd: []string{"sleep", "86400"}})
	if err != nil {
		b.Fatal(err)
	}
	c := started.(*dockerContainer)
	hostMem, err := bk.hostMemory(b.Context())
	if err != nil {
		b.Fatal(err)
	}

	measure := func(b *testing.B, gap time.Duration, call func() error) {
		var took []time.Duration
		for b.Loop() {
			b.StopTimer()
			time.Sleep(gap)
			b.StartTimer()
			begin := time.Now()
			if err := call(); err != nil {
				b.Fatal(err)
			}
			took = append(took, time.Since(begin))
		}
		slices.Sort(took)
		b.ReportMetric(float64(took[len(took)/2].Microseconds())/1000, "median-ms")
		b.ReportMetric(float64(took[len(took)-1].Microseconds())/1000, "max-ms")
	}
	b.Run("cgroup-files", func(b *testing.B) {
		measure(b, 0, func() error {
			_, src, err := c.stats(b.Context())
			if err == nil && src != fromCgroup && engineIsLocal(bk) {
				err = fmt.Errorf("sample from the %s, want the %s", src, fromCgroup)
			}
			return err
		})
	})
	engine := func() error { _, err := c.engineStats(b.Context(), hostMem); return err }
	b.Run("engine-back-to-back", func(b *testing.B) { measure(b, 0, engine) })
	b.Run("engine-spaced-1.1s", func(b *testing.B) { measure(b, 1100*time.Millisecond, engine) })
	b.Run("state", func(b *testing.B) {
		measure(b, 0, func() error { _, err := c.State(b.Context()); return err })
	})
}

// statsSession connects and creates a session that is closed when the test
// ends; it skips without an engine or the fixture images.
func statsSession(t *testing.T) (*Backend, backend.Session) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	b, err := New(ctx)
	if err != nil {
		t.Skipf("no Docker engine: %v", err)
	}
	t.Cleanup(func() { _ = b.Close() })
	for _, img := range []string{statsBusybox, statsPerl} {
		if _, err := b.cli.ImageInspect(ctx, img); err != nil {
			t.Skipf("fixture image %s missing (build it with scripts/fixture-images.sh): %v", img, err)
		}
	}
	return b, newStatsSession(t, b)
}

func newStatsSession(tb testing.TB, b *Backend) backend.Session {
	tb.Helper()
	id := uuid.Must(uuid.NewV7()).String()
	sess, err := b.NewSession(tb.Context(), backend.SessionSpec{ID: id, Labels: map[string]string{
		backend.LabelSession: id,
		backend.LabelOwner:   owner.Self().String(),
		backend.LabelCreated: time.Now().UTC().Format(time.RFC3339),
	}})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := sess.Close(ctx); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return sess
}

func startFor(t *testing.T, sess backend.Session, name, image string, cmd ...string) *dockerContainer {
	t.Helper()
	c, err := sess.Start(t.Context(), backend.ContainerSpec{Name: name, Image: image, Pull: backend.PullNever, Cmd: cmd})
	if err != nil {
		t.Fatalf("Start(%s): %v", name, err)
	}
	return c.(*dockerContainer)
}

// limit sets memory, memory+swap and pids (0: none) limits on a running
// container through the engine: ContainerSpec.Policy is not yet enforced by
// this backend.
func limit(t *testing.T, b *Backend, c *dockerContainer, memory, swap, pids int64) {
	t.Helper()
	r := &container.Resources{Memory: memory, MemorySwap: swap}
	if pids > 0 {
		r.PidsLimit = &pids
	}
	if _, err := b.cli.ContainerUpdate(t.Context(), c.id, client.ContainerUpdateOptions{Resources: r}); err != nil {
		t.Fatalf("update limits of %s: %v", c.name, err)
	}
}

// sample takes a sample that must come from the cgroup files when the
// engine runs on this machine, as it does in the development setup
// (scripts/docker-up.sh).
func sample(t *testing.T, c *dockerContainer) backend.Stats {
	t.Helper()
	s, src, err := c.stats(t.Context())
	if err != nil {
		t.Fatalf("Stats(%s): %v", c.name, err)
	}
	if src != fromCgroup && engineIsLocal(c.b) {
		t.Errorf("Stats(%s) came from the %s, want the %s: the engine runs on this machine", c.name, src, fromCgroup)
	}
	return s
}

// engineIsLocal tells whether the engine should be on this machine: a Linux
// engine behind a Unix socket. (Docker Desktop's is not, it runs in a VM:
// the tests fail there saying the sample came from the engine API.)
func engineIsLocal(b *Backend) bool {
	return runtime.GOOS == "linux" && strings.HasPrefix(b.cli.DaemonHost(), "unix://")
}

func stateOf(t *testing.T, c *dockerContainer) backend.State {
	t.Helper()
	st, err := c.State(t.Context())
	if err != nil {
		t.Fatalf("State(%s): %v", c.name, err)
	}
	return st
}

func execOK(t *testing.T, c *dockerContainer, script string) {
	t.Helper()
	res, err := c.Exec(t.Context(), backend.ExecSpec{Cmd: []string{"sh", "-c", script}, Timeout: time.Minute})
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("sh -c %q in %s: exit %d, stderr %q, error %v", script, c.name, res.ExitCode, res.Stderr, err)
	}
}

const pollFor = 30 * time.Second

func waitStats(t *testing.T, c *dockerContainer, what string, ok func(backend.Stats) bool) backend.Stats {
	t.Helper()
	var s backend.Stats
	for deadline := time.Now().Add(pollFor); ; {
		if s = sample(t, c); ok(s) {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s in %s; last sample %+v", pollFor, what, c.name, s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func waitState(t *testing.T, c *dockerContainer, what string, ok func(backend.State) bool) backend.State {
	t.Helper()
	var st backend.State
	for deadline := time.Now().Add(pollFor); ; {
		if st = stateOf(t, c); ok(st) {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("waited %s for %s; last state %+v", pollFor, what, st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func httpGet(t *testing.T, url string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	var lastErr error
	for ctx.Err() == nil {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			body, err := io.ReadAll(resp.Body)
			_ = resp.Body.Close()
			if err == nil && resp.StatusCode == http.StatusOK {
				return body
			}
			lastErr = fmt.Errorf("status %s, read error %v", resp.Status, err)
		} else {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("GET %s: %v", url, lastErr)
	return nil
}
