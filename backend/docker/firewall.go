package docker

import (
	"os/exec"
)

// The session network is internal, and the engine enforces that with its
// own firewall rules. Under heavy network churn those rules were seen
// missing for a moment (a container of an internal network then reached a
// published port on the default bridge: see the adversarial tests). So,
// when this process may (root, iptables present, the engine on this
// machine), each session adds its own rule in DOCKER-USER, the chain the
// engine leaves to its users and evaluates first: nothing leaves the
// session's bridge for another interface. Without it the engine's rules
// still apply; this is defence in depth, not the only line.

// bridgeName is the Linux bridge the engine makes for a network.
func bridgeName(netID string) string {
	if len(netID) > 12 {
		netID = netID[:12]
	}
	return "br-" + netID
}

func isolationRule(op, bridge string) []string {
	return []string{op, "DOCKER-USER", "-i", bridge, "!", "-o", bridge, "-j", "DROP"}
}

// isolate adds the session's rule; it reports whether it did.
func isolate(netID string) bool {
	if _, err := exec.LookPath("iptables"); err != nil {
		return false
	}
	return exec.Command("iptables", append([]string{"-w"}, isolationRule("-I", bridgeName(netID))...)...).Run() == nil
}

// unisolate removes the rule isolate added.
func unisolate(netID string) {
	_ = exec.Command("iptables", append([]string{"-w"}, isolationRule("-D", bridgeName(netID))...)...).Run()
}
