package local

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// idMap is what a rootless session's user namespace maps: root to the
// runner's own user and group, and, when the machine delegates a range of
// subordinate ids to that user (/etc/subuid and /etc/subgid, written by
// useradd or usermod --add-subuids) and has newuidmap and newgidmap to
// apply it (Debian's uidmap), the ids from 1 on to that range. Without the
// range the namespace has one user, root: enough for most programs, but
// not for one that must run as a user of its own, as PostgreSQL must.
type idMap struct {
	uid, gid             int
	subUID, subGID       idRange
	newuidmap, newgidmap string
}

// idRange is a range of subordinate ids; count 0 is none.
type idRange struct{ start, count int }

// currentIDMap finds what this process's user may map.
func currentIDMap() idMap {
	m := idMap{uid: os.Getuid(), gid: os.Getgid()}
	name := ""
	if u, err := user.Current(); err == nil {
		name = u.Username
	}
	m.subUID = subordinate("/etc/subuid", name, m.uid)
	m.subGID = subordinate("/etc/subgid", name, m.uid)
	m.newuidmap, _ = exec.LookPath("newuidmap")
	m.newgidmap, _ = exec.LookPath("newgidmap")
	return m
}

// full says whether the namespace gets more than one user.
func (m idMap) full() bool {
	return m.subUID.count > 0 && m.subGID.count > 0 && m.newuidmap != "" && m.newgidmap != ""
}

// why says what is missing for more than one user, for errors.
func (m idMap) why() string {
	var missing []string
	if m.newuidmap == "" || m.newgidmap == "" {
		missing = append(missing, "newuidmap and newgidmap (apt-get install uidmap)")
	}
	if m.subUID.count == 0 || m.subGID.count == 0 {
		missing = append(missing, fmt.Sprintf("a range of ids for uid %d in /etc/subuid and /etc/subgid (usermod --add-subuids 100000-165535 --add-subgids 100000-165535 USER)", m.uid))
	}
	return strings.Join(missing, " and ")
}

// write gives the user namespace of process pid its map.
func (m idMap) write(pid int) error {
	p := strconv.Itoa(pid)
	if m.full() {
		for _, c := range []struct {
			prog string
			id   int
			sub  idRange
		}{{m.newuidmap, m.uid, m.subUID}, {m.newgidmap, m.gid, m.subGID}} {
			out, err := exec.Command(c.prog, p, "0", strconv.Itoa(c.id), "1",
				"1", strconv.Itoa(c.sub.start), strconv.Itoa(c.sub.count)).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s: %w: %s (it must be setuid root, as Debian's uidmap installs it; or remove uid %d's range from /etc/subuid and /etc/subgid to run with root alone in sandboxes)",
					c.prog, err, strings.TrimSpace(string(out)), m.uid)
			}
		}
		return nil
	}
	// A user may map its own ids alone, and its group only once it has
	// given up setgroups in the namespace (else dropping a group there
	// could grant what a deny entry for that group refuses).
	for _, w := range []struct{ file, data string }{
		{"uid_map", fmt.Sprintf("0 %d 1\n", m.uid)},
		{"setgroups", "deny"},
		{"gid_map", fmt.Sprintf("0 %d 1\n", m.gid)},
	} {
		if err := os.WriteFile("/proc/"+p+"/"+w.file, []byte(w.data), 0); err != nil {
			return fmt.Errorf("mapping the user namespace: %w", err)
		}
	}
	return nil
}

// subordinate finds the first range of user name (or uid) in file, as
// newuidmap reads it: "name:start:count" or "uid:start:count" lines.
func subordinate(file, name string, uid int) idRange {
	f, err := os.Open(file)
	if err != nil {
		return idRange{}
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Split(strings.TrimSpace(sc.Text()), ":")
		if len(fields) != 3 || (fields[0] != name || name == "") && fields[0] != strconv.Itoa(uid) {
			continue
		}
		start, err1 := strconv.Atoi(fields[1])
		count, err2 := strconv.Atoi(fields[2])
		if err1 == nil && err2 == nil && count > 0 {
			return idRange{start, count}
		}
	}
	return idRange{}
}

// idMaps are the maps of the holder's own user namespace, which it gives
// each sandbox's namespace unchanged.
type idMaps struct {
	uid, gid  idLines
	setgroups bool // setgroups(2) is allowed (not with a single-user map)
}

type idLines []syscall.SysProcIDMap

// size is how many ids the lines map.
func (l idLines) size() int {
	n := 0
	for _, m := range l {
		n += m.Size
	}
	return n
}

// identity maps each id of these lines to itself, one namespace down.
func (l idLines) identity() []syscall.SysProcIDMap {
	out := make([]syscall.SysProcIDMap, len(l))
	for i, m := range l {
		out[i] = syscall.SysProcIDMap{ContainerID: m.ContainerID, HostID: m.ContainerID, Size: m.Size}
	}
	return out
}

func readIDMaps() (idMaps, error) {
	var m idMaps
	var err error
	if m.uid, err = readIDLines("/proc/self/uid_map"); err != nil {
		return m, err
	}
	if m.gid, err = readIDLines("/proc/self/gid_map"); err != nil {
		return m, err
	}
	m.setgroups = !setgroupsDenied()
	return m, nil
}

// setgroupsDenied says whether this process's user namespace refuses
// setgroups(2), as one mapped by its user alone does (idMap.write). It does
// not change in a process's life; a sandbox asks at every process start.
var setgroupsDenied = sync.OnceValue(func() bool {
	b, err := os.ReadFile("/proc/self/setgroups")
	return err == nil && strings.TrimSpace(string(b)) == "deny"
})

func readIDLines(path string) (idLines, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out idLines
	for line := range strings.Lines(string(b)) {
		f := strings.Fields(line)
		if len(f) != 3 {
			continue
		}
		in, err1 := strconv.Atoi(f[0])
		host, err2 := strconv.Atoi(f[1])
		n, err3 := strconv.Atoi(f[2])
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("%s: bad line %q", path, line)
		}
		out = append(out, syscall.SysProcIDMap{ContainerID: in, HostID: host, Size: n})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%s is empty", path)
	}
	return out, nil
}
