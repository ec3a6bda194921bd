package policy

import (
	"fmt"
	"slices"
	"strings"
)

// Rule is a compliance rule a project or suite can require of every
// container's effective policy.
type Rule struct {
	Name string
	// Check returns "" when p satisfies the rule, or what is missing.
	Check func(p Policy) string
	Doc   string
}

// rules are the compliance rules, by name; LookupRule and RuleNames read
// them.
var rules = map[string]Rule{
	"read_only_rootfs": {
		Name: "read_only_rootfs",
		Doc:  "the root file system is mounted read-only",
		Check: func(p Policy) string {
			if !p.ReadOnlyRootfs {
				return "its root file system is writable (set read_only_rootfs = true)"
			}
			return ""
		},
	},
	"no_egress": {
		Name: "no_egress",
		Doc:  `no route out: network "isolated" or "none"`,
		Check: func(p Policy) string {
			if p.Network == Bridge {
				return `its network is "bridge", which has a route out (use "isolated" or "none")`
			}
			return ""
		},
	},
	"non_root": {
		Name: "non_root",
		Doc:  "processes run as a user other than root",
		Check: func(p Policy) string {
			if p.IsRoot() {
				if p.User == "" {
					return "it runs as the image's default user, which may be root (set user to a non-root user)"
				}
				return fmt.Sprintf("it runs as %q (set user to a non-root user)", p.User)
			}
			return ""
		},
	},
	"memory_limit": {
		Name: "memory_limit",
		Doc:  "a memory limit is set",
		Check: func(p Policy) string {
			if p.Memory <= 0 {
				return "it has no memory limit (set memory)"
			}
			return ""
		},
	},
	"cpu_limit": {
		Name: "cpu_limit",
		Doc:  "a CPU limit is set",
		Check: func(p Policy) string {
			if p.CPUs <= 0 {
				return "it has no CPU limit (set cpus)"
			}
			return ""
		},
	},
	"pids_limit": {
		Name: "pids_limit",
		Doc:  "a process limit is set",
		Check: func(p Policy) string {
			if p.Pids <= 0 {
				return "it has no process limit (set pids)"
			}
			return ""
		},
	},
	"no_capabilities": {
		Name: "no_capabilities",
		Doc:  `every capability is dropped (cap_drop = ["ALL"]) and none added`,
		Check: func(p Policy) string {
			if !p.DropsAll() {
				return `it keeps the engine's default capabilities (set cap_drop = ["ALL"])`
			}
			if len(p.CapAdd) > 0 {
				return "it adds capabilities " + strings.Join(p.CapAdd, ", ")
			}
			return ""
		},
	},
	"no_new_privileges": {
		Name: "no_new_privileges",
		Doc:  "setuid binaries cannot raise privileges",
		Check: func(p Policy) string {
			if !p.NoNewPrivileges {
				return "no_new_privileges is off"
			}
			return ""
		},
	},
}

// LookupRule returns the compliance rule called name.
func LookupRule(name string) (Rule, bool) {
	r, ok := rules[name]
	return r, ok
}

// RuleNames lists the rules in a stable order.
func RuleNames() []string {
	names := make([]string, 0, len(rules))
	for n := range rules {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Violation is one rule a container's policy breaks.
type Violation struct {
	Rule    string
	Message string
}

// Check returns the rules among require that p breaks, in require's order.
// Unknown rule names are the validator's concern; they are skipped here.
func Check(p Policy, require []string) []Violation {
	var out []Violation
	for _, name := range require {
		r, ok := rules[name]
		if !ok {
			continue
		}
		if msg := r.Check(p); msg != "" {
			out = append(out, Violation{Rule: name, Message: msg})
		}
	}
	return out
}

// Capabilities are the Linux capability names cap_add and cap_drop accept
// (without the "CAP_" prefix), plus "ALL".
var Capabilities = []string{
	"ALL",
	"AUDIT_CONTROL", "AUDIT_READ", "AUDIT_WRITE", "BLOCK_SUSPEND", "BPF",
	"CHECKPOINT_RESTORE", "CHOWN", "DAC_OVERRIDE", "DAC_READ_SEARCH", "FOWNER",
	"FSETID", "IPC_LOCK", "IPC_OWNER", "KILL", "LEASE", "LINUX_IMMUTABLE",
	"MAC_ADMIN", "MAC_OVERRIDE", "MKNOD", "NET_ADMIN", "NET_BIND_SERVICE",
	"NET_BROADCAST", "NET_RAW", "PERFMON", "SETFCAP", "SETGID", "SETPCAP",
	"SETUID", "SYS_ADMIN", "SYS_BOOT", "SYS_CHROOT", "SYS_MODULE", "SYS_NICE",
	"SYS_PACCT", "SYS_PTRACE", "SYS_RAWIO", "SYS_RESOURCE", "SYS_TIME",
	"SYS_TTY_CONFIG", "SYSLOG", "WAKE_ALARM",
}

// NormalizeCapability turns "cap_net_admin" or "NET_ADMIN" into "NET_ADMIN";
// ok is false for a name that is not a capability.
func NormalizeCapability(name string) (string, bool) {
	n := strings.TrimPrefix(strings.ToUpper(name), "CAP_")
	return n, slices.Contains(Capabilities, n)
}
