package cgroupfs

import (
	"errors"
	"io/fs"
	"maps"
	"math"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
)

// The files below are as the kernel writes them, shortened where a file
// goes on with fields cleanroom does not read.

const cgroupTestID = "60731b587a7a8e155b8855871e5d50dbcd8ccd4783c9e0754abefb5b2e6db904"

// Docker's cgroupfs driver on cgroup v1, beside an empty v2 hierarchy (this
// machine's layout).
const procCgroupV1 = `9:name=systemd:/docker/` + cgroupTestID + `
8:pids:/docker/` + cgroupTestID + `
7:blkio:/docker/` + cgroupTestID + `
6:freezer:/docker/` + cgroupTestID + `
5:devices:/docker/` + cgroupTestID + `
4:memory:/docker/` + cgroupTestID + `
3:cpuset:/docker/` + cgroupTestID + `
2:cpuacct:/docker/` + cgroupTestID + `
1:cpu:/docker/` + cgroupTestID + `
0::/docker/` + cgroupTestID + `
`

// The systemd driver on cgroup v1, with cpu and cpuacct mounted together.
const procCgroupV1Systemd = `12:pids:/system.slice/docker-` + cgroupTestID + `.scope
4:cpu,cpuacct:/system.slice/docker-` + cgroupTestID + `.scope
3:memory:/system.slice/docker-` + cgroupTestID + `.scope
1:name=systemd:/system.slice/docker-` + cgroupTestID + `.scope
0::/system.slice/docker-` + cgroupTestID + `.scope
`

const procCgroupV2 = "0::/system.slice/docker-" + cgroupTestID + ".scope\n"

const memoryStatV1 = `cache 157286400
rss 53248
rss_huge 0
shmem 0
mapped_file 0
inactive_anon 49152
active_anon 4096
inactive_file 1
active_file 0
unevictable 0
hierarchical_memory_limit 9223372036854771712
hierarchical_memsw_limit 9223372036854771712
total_cache 157286400
total_rss 53248
total_inactive_anon 49152
total_active_anon 4096
total_inactive_file 104857600
total_active_file 0
total_unevictable 0
`

const oomControlV1 = `oom_kill_disable 0
under_oom 0
oom_kill 3
`

const blkioV1 = `8:0 Read 1000
8:0 Write 2000
8:0 Sync 1
8:0 Async 1
8:0 Discard 0
8:0 Total 3000
9:0 Read 5
9:0 Write 7
Total 3012
`

const memoryStatV2 = `anon 41943040
file 10485760
kernel 524288
kernel_stack 16384
shmem 0
file_mapped 0
inactive_anon 41926656
active_anon 16384
inactive_file 6291456
active_file 4194304
unevictable 0
slab_reclaimable 0
pgfault 1152
`

const memoryEventsV2 = `low 0
high 0
max 17
oom 2
oom_kill 1
oom_group_kill 0
`

const cpuStatV2 = `usage_usec 2500000
user_usec 2000000
system_usec 500000
nr_periods 0
nr_throttled 0
throttled_usec 0
`

const ioStatV2 = `8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0
254:0 rbytes=100 wbytes=200 rios=1 wios=1 dbytes=0 dios=0
`

const netDev = `Inter-|   Receive                                                |  Transmit
 face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
    lo: 58136597  668054    0    0    0     0          0         0 58136597  668054    0    0    0     0       0          0
  eth0:     200       2    0    0    0     0          0         0     1000       3    0    0    0     0       0          0
  eth1:10000000000     2    0    0    0     0          0         0       20       3    0    0    0     0       0          0
`

// TestStatsParseCgroupFiles covers the parsers on each file format,
// cgroup v2's too, which this machine does not run.
func TestStatsParseCgroupFiles(t *testing.T) {
	t.Run("proc cgroup", func(t *testing.T) {
		for _, tc := range []struct {
			name    string
			content string
			want    map[string]string
		}{
			{"v1 cgroupfs", procCgroupV1, map[string]string{
				"memory": "/docker/" + cgroupTestID, "cpuacct": "/docker/" + cgroupTestID, "": "/docker/" + cgroupTestID,
			}},
			{"v1 systemd", procCgroupV1Systemd, map[string]string{
				"cpu": "/system.slice/docker-" + cgroupTestID + ".scope", "cpuacct": "/system.slice/docker-" + cgroupTestID + ".scope",
				"name=systemd": "/system.slice/docker-" + cgroupTestID + ".scope",
			}},
			{"v2", procCgroupV2, map[string]string{"": "/system.slice/docker-" + cgroupTestID + ".scope"}},
		} {
			got := ParseProcCgroup(tc.content)
			for k, want := range tc.want {
				if got[k] != want {
					t.Errorf("%s: path of controller %q: got %q, want %q", tc.name, k, got[k], want)
				}
			}
		}
		if _, ok := ParseProcCgroup(procCgroupV2)["memory"]; ok {
			t.Errorf("v2: got a v1 memory controller, want none")
		}
	})

	t.Run("numbers and limits", func(t *testing.T) {
		for _, tc := range []struct {
			content string
			limit   bool
			want    uint64
			wantErr bool
		}{
			{"52428800\n", false, 52428800, false},
			{"9223372036854771712\n", true, 9223372036854771712, false},
			{"max\n", true, math.MaxUint64, false},
			{"max\n", false, 0, true},
			{"", false, 0, true},
		} {
			parse := parseNumber
			if tc.limit {
				parse = parseLimit
			}
			got, err := parse(tc.content)
			if got != tc.want || (err != nil) != tc.wantErr {
				t.Errorf("parse %q (limit %v): got %d, %v; want %d, error %v", tc.content, tc.limit, got, err, tc.want, tc.wantErr)
			}
		}
	})

	t.Run("keyed fields", func(t *testing.T) {
		for _, tc := range []struct {
			file, content, key string
			want               uint64
		}{
			{"v1 memory.stat", memoryStatV1, "total_inactive_file", 100 << 20},
			{"v1 memory.stat", memoryStatV1, "inactive_file", 1},
			{"v1 memory.oom_control", oomControlV1, "oom_kill", 3},
			{"v1 memory.oom_control before Linux 4.13", "oom_kill_disable 0\nunder_oom 0\n", "oom_kill", 0},
			{"pids.events", "max 42\n", "max", 42},
			{"v2 memory.stat", memoryStatV2, "inactive_file", 6 << 20},
			{"v2 memory.events", memoryEventsV2, "max", 17},
			{"v2 memory.events", memoryEventsV2, "oom", 2},
			{"v2 memory.events", memoryEventsV2, "oom_kill", 1},
			{"v2 cpu.stat", cpuStatV2, "usage_usec", 2500000},
			{"empty", "", "max", 0},
		} {
			if got := Field(tc.content, tc.key); got != tc.want {
				t.Errorf("%s: %s: got %d, want %d", tc.file, tc.key, got, tc.want)
			}
		}
	})

	t.Run("block and network I/O", func(t *testing.T) {
		for _, tc := range []struct {
			file            string
			parse           func(string) (uint64, uint64)
			content         string
			wantIn, wantOut uint64
		}{
			{"v1 blkio.throttle.io_service_bytes", parseBlkio, blkioV1, 1005, 2007},
			{"v1 blkio.throttle.io_service_bytes, no I/O", parseBlkio, "Total 0\n", 0, 0},
			{"v2 io.stat", parseIOStat, ioStatV2, 4196, 8392},
			{"v2 io.stat, no I/O", parseIOStat, "", 0, 0},
			{"net/dev without lo", parseNetDev, netDev, 10000000200, 1020},
		} {
			in, out := tc.parse(tc.content)
			if in != tc.wantIn || out != tc.wantOut {
				t.Errorf("%s: got %d in, %d out; want %d, %d", tc.file, in, out, tc.wantIn, tc.wantOut)
			}
		}
	})
}

// TestStatsFromCgroupFiles reads whole samples from the files of a v1 and a
// v2 machine.
func TestStatsFromCgroupFiles(t *testing.T) {
	const host = 8 << 30
	const pid = 4242
	v1 := "sys/fs/cgroup/%s/docker/" + cgroupTestID + "/"
	v2 := "sys/fs/cgroup/system.slice/docker-" + cgroupTestID + ".scope/"
	proc := "proc/4242/"
	files := func(m map[string]string) fstest.MapFS {
		fsys := fstest.MapFS{}
		for name, content := range m {
			fsys[name] = &fstest.MapFile{Data: []byte(content)}
		}
		return fsys
	}
	inV1 := func(controller, file string) string {
		return strings.Replace(v1, "%s", controller, 1) + file
	}
	machineV1 := map[string]string{
		proc + "cgroup":                                  procCgroupV1,
		proc + "net/dev":                                 netDev,
		inV1("memory", "memory.usage_in_bytes"):          "314572800\n",
		inV1("memory", "memory.max_usage_in_bytes"):      "419430400\n",
		inV1("memory", "memory.limit_in_bytes"):          "9223372036854771712\n",
		inV1("memory", "memory.failcnt"):                 "12\n",
		inV1("memory", "memory.stat"):                    memoryStatV1,
		inV1("memory", "memory.oom_control"):             oomControlV1,
		inV1("cpuacct", "cpuacct.usage"):                 "1500000000\n",
		inV1("pids", "pids.current"):                     "7\n",
		inV1("pids", "pids.max"):                         "max\n",
		inV1("pids", "pids.events"):                      "max 4\n",
		inV1("blkio", "blkio.throttle.io_service_bytes"): blkioV1,
	}
	machineV2 := map[string]string{
		proc + "cgroup":       procCgroupV2,
		proc + "net/dev":      netDev,
		v2 + "memory.current": "52428800\n",
		v2 + "memory.peak":    "62914560\n",
		v2 + "memory.max":     "33554432\n",
		v2 + "memory.stat":    memoryStatV2,
		v2 + "memory.events":  memoryEventsV2,
		v2 + "cpu.stat":       cpuStatV2,
		v2 + "pids.current":   "3\n",
		v2 + "pids.max":       "32\n",
		v2 + "pids.events":    "max 5\n",
		v2 + "io.stat":        ioStatV2,
	}
	without := func(m map[string]string, drop ...string) map[string]string {
		out := maps.Clone(m)
		for _, d := range drop {
			delete(out, d)
		}
		return out
	}

	for _, tc := range []struct {
		name    string
		machine map[string]string
		want    backend.Stats
		wantErr bool
	}{
		{"v1", machineV1, backend.Stats{
			CPU: 1500 * time.Millisecond, Memory: 200 << 20, MemoryPeak: 400 << 20, Pids: 7,
			NetRx: 10000000200, NetTx: 1020, BlockRead: 1005, BlockWrite: 2007,
			MemoryLimitHits: 12, OOMKills: 3, PidsLimitHits: 4,
		}, false},
		{"v1 before Linux 4.13, without pids and blkio", without(machineV1,
			inV1("pids", "pids.current"), inV1("pids", "pids.max"), inV1("pids", "pids.events"),
			inV1("blkio", "blkio.throttle.io_service_bytes"), inV1("memory", "memory.oom_control")),
			backend.Stats{
				CPU: 1500 * time.Millisecond, Memory: 200 << 20, MemoryPeak: 400 << 20,
				NetRx: 10000000200, NetTx: 1020, MemoryLimitHits: 12,
			}, false},
		{"v2", machineV2, backend.Stats{
			CPU: 2500 * time.Millisecond, Memory: 44 << 20, MemoryPeak: 60 << 20, MemoryLimit: 32 << 20,
			Pids: 3, PidsLimit: 32, NetRx: 10000000200, NetTx: 1020, BlockRead: 4196, BlockWrite: 8392,
			MemoryLimitHits: 17, OOMKills: 1, PidsLimitHits: 5,
		}, false},
		{"v2 before Linux 5.19 (no memory.peak)", without(machineV2, v2+"memory.peak"), backend.Stats{
			CPU: 2500 * time.Millisecond, Memory: 44 << 20, MemoryLimit: 32 << 20,
			Pids: 3, PidsLimit: 32, NetRx: 10000000200, NetTx: 1020, BlockRead: 4196, BlockWrite: 8392,
			MemoryLimitHits: 17, OOMKills: 1, PidsLimitHits: 5,
		}, false},
		{"v1 stopped: the cgroup is gone", without(machineV1, inV1("memory", "memory.usage_in_bytes")), backend.Stats{}, true},
		{"v2 stopped: the process is gone", without(machineV2, proc+"net/dev"), backend.Stats{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Resolve(files(tc.machine), pid, cgroupTestID)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			got, err := f.Stats(host)
			if tc.wantErr {
				if err == nil {
					t.Errorf("stats: got %+v, want an error", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("stats: %v", err)
			}
			if d := time.Since(got.At); d < 0 || d > time.Minute {
				t.Errorf("At: got %s, want now", got.At)
			}
			got.At = time.Time{}
			if got != tc.want {
				t.Errorf("stats:\n got %+v\nwant %+v", got, tc.want)
			}
		})
	}

	t.Run("PID reused", func(t *testing.T) {
		fsys := files(machineV1)
		f, err := Resolve(fsys, pid, cgroupTestID)
		if err != nil {
			t.Fatal(err)
		}
		fsys[proc+"cgroup"] = &fstest.MapFile{Data: []byte("0::/user.slice\n")}
		if s, err := f.Stats(host); err == nil {
			t.Errorf("stats after the container's init process was replaced: got %+v, want an error", s)
		}
	})
}

// TestStatsResolveCgroup: the files are found only for a process of the
// container, and only inside this process's cgroup namespace.
func TestStatsResolveCgroup(t *testing.T) {
	for _, tc := range []struct {
		name       string
		procCgroup string // "" for no such process
		wantDir    string
		wantErr    string
	}{
		{"v1 cgroupfs", procCgroupV1, "sys/fs/cgroup/memory/docker/" + cgroupTestID, ""},
		{"v1 systemd", procCgroupV1Systemd, "sys/fs/cgroup/memory/system.slice/docker-" + cgroupTestID + ".scope", ""},
		{"v2", procCgroupV2, "sys/fs/cgroup/system.slice/docker-" + cgroupTestID + ".scope", ""},
		{"no such process (engine elsewhere)", "", "", "file does not exist"},
		{"another process (engine elsewhere)", "0::/user.slice/user-1000.slice/session-3.scope\n", "", "not in the container's cgroup"},
		{"outside this cgroup namespace", "0::/../../docker/" + cgroupTestID + "\n", "", "outside this cgroup namespace"},
		{"no memory cgroup", "1:name=systemd:/docker/" + cgroupTestID + "\n", "", "no memory cgroup"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fsys := fstest.MapFS{}
			if tc.procCgroup != "" {
				fsys["proc/1/cgroup"] = &fstest.MapFile{Data: []byte(tc.procCgroup)}
			}
			f, err := Resolve(fsys, 1, cgroupTestID)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Errorf("got %+v, %v; want an error saying %q", f, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if f.Memory != tc.wantDir {
				t.Errorf("memory directory: got %q, want %q", f.Memory, tc.wantDir)
			}
		})
	}
	if _, err := Resolve(fstest.MapFS{}, 1, cgroupTestID); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no such process: got %v, want fs.ErrNotExist", err)
	}
}
