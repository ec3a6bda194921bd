package local

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
)

// subordinate reads /etc/subuid and /etc/subgid as newuidmap does: the
// first "name:start:count" or "uid:start:count" line of the user whose
// range is usable. A wrong range would have newuidmap refuse the map (or
// map ids the user does not own), so each rule is pinned here.
func TestSubordinate(t *testing.T) {
	type account struct {
		name string
		uid  int
	}
	alice := account{"alice", 1000}
	cases := []struct {
		name    string
		content string
		missing bool     // no file at all
		as      *account // whose range; nil for alice
		want    idRange
	}{
		{name: "by name", content: "alice:100000:65536\n", want: idRange{100000, 65536}},
		{name: "by numeric uid", content: "1000:200000:65536\n", want: idRange{200000, 65536}},
		{
			name:    "first matching range wins",
			content: "alice:100000:65536\nalice:300000:1000\n",
			want:    idRange{100000, 65536},
		},
		{
			// The uid line comes first, so it is the one: a name line
			// is not preferred over it.
			name:    "first match wins across name and uid lines",
			content: "1000:5000:10\nalice:100000:65536\n",
			want:    idRange{5000, 10},
		},
		{
			name:    "other users' lines are ignored",
			content: "bob:100000:65536\n1001:165536:65536\nalice:231072:65536\n",
			want:    idRange{231072, 65536},
		},
		{
			name:    "only other users: none",
			content: "bob:100000:65536\n1001:165536:65536\nalicia:1:2\nalic:1:2\n",
			want:    idRange{},
		},
		{
			// A line with too many or too few fields, a field that is no
			// number, or an empty range does not stop the search: the
			// next good line is taken.
			name: "malformed lines are skipped",
			content: "alice:1:2:3\n" +
				"alice:100000\n" +
				"alice\n" +
				"\n" +
				"alice:x:10\n" +
				"alice:10:y\n" +
				"alice::10\n" +
				"alice:10:0\n" +
				"alice:10:-5\n" +
				"alice:500000:10\n",
			want: idRange{500000, 10},
		},
		{
			name:    "malformed lines only: none",
			content: "alice:1:2:3\nalice:x:10\nalice:10:0\n",
			want:    idRange{},
		},
		{
			name:    "surrounding spaces are trimmed",
			content: "  alice:100000:65536  \n",
			want:    idRange{100000, 65536},
		},
		{
			// A user whose name is unknown (user.Current failed) must not
			// take a line whose name field is empty: that is nobody's.
			name:    "empty name does not match an empty name field",
			content: ":100000:65536\n",
			as:      &account{"", 1000},
			want:    idRange{},
		},
		{
			name:    "empty name still matches by uid",
			content: ":100000:65536\n1000:200000:10\n",
			as:      &account{"", 1000},
			want:    idRange{200000, 10},
		},
		{
			// uid 0 matches a "0:" line, and nobody else's.
			name:    "uid 0",
			content: "alice:1:2\n0:300000:10\n",
			as:      &account{"root", 0},
			want:    idRange{300000, 10},
		},
		{name: "empty file: none", content: "", want: idRange{}},
		{name: "missing file: none", missing: true, want: idRange{}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "subuid")
			if !c.missing {
				if err := os.WriteFile(file, []byte(c.content), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			who := alice
			if c.as != nil {
				who = *c.as
			}
			if got := subordinate(file, who.name, who.uid); got != c.want {
				t.Errorf("subordinate(%q, %d) of\n%s\n= %+v, want %+v", who.name, who.uid, c.content, got, c.want)
			}
		})
	}
}

// readIDLines reads /proc/PID/uid_map, whose fields the kernel pads with
// spaces; the lines become the maps each sandbox's namespace gets.
func TestReadIDLines(t *testing.T) {
	cases := []struct {
		name    string
		content string
		want    idLines
		wantErr string // a fragment of the error; "" for none
	}{
		{
			// The initial namespace: everything maps to itself.
			name:    "one line",
			content: "         0          0 4294967295\n",
			want:    idLines{{ContainerID: 0, HostID: 0, Size: 4294967295}},
		},
		{
			// A rootless holder's namespace with subordinate ids.
			name:    "two lines",
			content: "         0       1000          1\n         1     100000      65536\n",
			want: idLines{
				{ContainerID: 0, HostID: 1000, Size: 1},
				{ContainerID: 1, HostID: 100000, Size: 65536},
			},
		},
		{
			name:    "no final newline",
			content: "0 1000 1",
			want:    idLines{{ContainerID: 0, HostID: 1000, Size: 1}},
		},
		{
			// A line whose fields are not three is not a map line.
			name:    "a line of another shape is skipped",
			content: "0 1000\n0 1000 1 extra\n         0       1000          1\n",
			want:    idLines{{ContainerID: 0, HostID: 1000, Size: 1}},
		},
		{
			name:    "a field that is no number",
			content: "         0       1000          1\n         1     100000      lots\n",
			wantErr: "bad line",
		},
		{name: "a host id that is no number", content: "0 x 1\n", wantErr: "bad line"},
		{name: "empty", content: "", wantErr: "is empty"},
		{name: "only lines of another shape", content: "0 1\n\n", wantErr: "is empty"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "uid_map")
			if err := os.WriteFile(file, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
			got, err := readIDLines(file)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) || !strings.Contains(err.Error(), file) {
					t.Fatalf("readIDLines(%q) = %v, %v; want an error naming the file and saying %q", c.content, got, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("readIDLines(%q): %v", c.content, err)
			}
			if !reflect.DeepEqual(got, c.want) {
				t.Errorf("readIDLines(%q) = %+v, want %+v", c.content, got, c.want)
			}
		})
	}
	t.Run("missing file", func(t *testing.T) {
		if got, err := readIDLines(filepath.Join(t.TempDir(), "none")); err == nil {
			t.Fatalf("readIDLines of a missing file = %v, want an error", got)
		}
	})
}

// identity gives a sandbox's namespace, one level below the holder's, the
// same ids the holder has: each id of the holder's map maps to itself, so
// host files keep the owners the holder sees.
func TestIDLinesIdentity(t *testing.T) {
	in := idLines{
		{ContainerID: 0, HostID: 1000, Size: 1},
		{ContainerID: 1, HostID: 100000, Size: 65536},
	}
	want := []syscall.SysProcIDMap{
		{ContainerID: 0, HostID: 0, Size: 1},
		{ContainerID: 1, HostID: 1, Size: 65536},
	}
	if got := in.identity(); !reflect.DeepEqual(got, want) {
		t.Errorf("identity() = %+v, want %+v", got, want)
	}
	// The holder's own map is left as it was.
	if in[0].HostID != 1000 || in[1].HostID != 100000 {
		t.Errorf("identity() changed its receiver: %+v", in)
	}
	if got := (idLines{}).identity(); len(got) != 0 {
		t.Errorf("identity() of no lines = %+v, want none", got)
	}
}

// full decides whether sandboxes get users other than root; why is the
// error text a suite that needs one gets, so it must name exactly what to
// install or configure.
func TestIDMapFullAndWhy(t *testing.T) {
	const (
		progs  = "newuidmap and newgidmap (apt-get install uidmap)"
		ranges = "a range of ids for uid 1000 in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)"
	)
	good := idMap{
		uid: 1000, gid: 1000,
		subUID: idRange{100000, 65536}, subGID: idRange{100000, 65536},
		newuidmap: "/usr/bin/newuidmap", newgidmap: "/usr/bin/newgidmap",
	}
	cases := []struct {
		name     string
		change   func(*idMap)
		wantFull bool
		wantWhy  string
	}{
		{name: "everything", change: func(*idMap) {}, wantFull: true, wantWhy: ""},
		{name: "no newuidmap", change: func(m *idMap) { m.newuidmap = "" }, wantWhy: progs},
		{name: "no newgidmap", change: func(m *idMap) { m.newgidmap = "" }, wantWhy: progs},
		{name: "no programs", change: func(m *idMap) { m.newuidmap, m.newgidmap = "", "" }, wantWhy: progs},
		{name: "no uid range", change: func(m *idMap) { m.subUID = idRange{} }, wantWhy: ranges},
		{name: "no gid range", change: func(m *idMap) { m.subGID = idRange{} }, wantWhy: ranges},
		{name: "a start but no count", change: func(m *idMap) { m.subUID = idRange{100000, 0} }, wantWhy: ranges},
		{
			name:    "nothing",
			change:  func(m *idMap) { *m = idMap{uid: 1000, gid: 1000} },
			wantWhy: progs + " and " + ranges,
		},
		{
			// The uid in the hint is the runner's.
			name:    "another uid",
			change:  func(m *idMap) { m.uid, m.subGID = 4242, idRange{} },
			wantWhy: strings.Replace(ranges, "uid 1000", "uid 4242", 1),
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := good
			c.change(&m)
			if got := m.full(); got != c.wantFull {
				t.Errorf("full() of %+v = %v, want %v", m, got, c.wantFull)
			}
			if got := m.why(); got != c.wantWhy {
				t.Errorf("why() of %+v =\n  %q\nwant\n  %q", m, got, c.wantWhy)
			}
		})
	}
}

// restrictions turns the map into what validation refuses: nothing as
// root, limits always without root, and users other than root only when
// the map is not full, with why's text as the reason.
func TestRestrictions(t *testing.T) {
	full := idMap{uid: 1000, gid: 1000, subUID: idRange{1, 2}, subGID: idRange{1, 2}, newuidmap: "a", newgidmap: "b"}
	single := idMap{uid: 1000, gid: 1000}
	if r := restrictions(false, single); r.Limits != "" || r.Users != "" {
		t.Errorf("as root: %+v, want no restrictions", r)
	}
	r := restrictions(true, full)
	if !strings.Contains(r.Limits, "no cgroup") || r.Users != "" {
		t.Errorf("rootless with a full map: %+v, want limits only", r)
	}
	r = restrictions(true, single)
	if !strings.Contains(r.Limits, "no cgroup") || !strings.HasSuffix(r.Users, single.why()) || !strings.Contains(r.Users, "only root") {
		t.Errorf("rootless with a single user: %+v, want limits and users (ending in %q)", r, single.why())
	}
}
