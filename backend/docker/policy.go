package docker

import (
	"maps"
	"strconv"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"

	"github.com/cleanroomhq/cleanroom/policy"
)

// defaultBridge is the engine's default network: the one with a route out.
const defaultBridge = "bridge"

// applyPolicy translates an effective policy into the engine's settings for
// a container. Everything is enforced by the engine (the kernel, through
// it): nothing here relies on the image cooperating.
//
//   - network: the session network is internal (no route out), so
//     "isolated" is simply membership of it; "none" is the engine's none
//     mode (loopback only); "bridge" adds the default bridge (see
//     networksFor).
//   - read_only_rootfs, tmpfs (with size), volumes (anonymous engine
//     volumes, labelled with the session, removed with the container).
//   - cap_drop / cap_add, no-new-privileges; seccomp stays the engine's
//     default profile because nothing here ever sets seccomp=unconfined.
//   - memory with swap equal to it (no swap beyond the limit), CPUs as
//     NanoCPUs, and the pids cgroup limit.
func applyPolicy(hc *container.HostConfig, p policy.Policy, specTmpfs map[string]string, labels map[string]string) {
	if p.Network == policy.None {
		hc.NetworkMode = "none"
	}
	hc.ReadonlyRootfs = p.ReadOnlyRootfs
	tmpfs := maps.Clone(specTmpfs)
	if tmpfs == nil && len(p.Tmpfs) > 0 {
		tmpfs = map[string]string{}
	}
	for path, size := range p.Tmpfs {
		opts := "rw"
		if size > 0 {
			opts += ",size=" + strconv.FormatInt(size, 10)
		}
		// The policy's entry wins over the kind's own ("rw"): its size
		// is what the audit records.
		tmpfs[path] = opts
	}
	hc.Tmpfs = tmpfs
	for _, v := range p.Volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type:          mount.TypeVolume,
			Target:        v,
			VolumeOptions: &mount.VolumeOptions{Labels: copyLabels(labels)},
		})
	}
	hc.CapDrop = p.CapDrop
	hc.CapAdd = p.CapAdd
	if p.NoNewPrivileges {
		hc.SecurityOpt = append(hc.SecurityOpt, "no-new-privileges:true")
	}
	if p.Memory > 0 {
		hc.Memory = p.Memory
		hc.MemorySwap = p.Memory // swap limit = memory limit: no swap at all
	}
	if p.CPUs > 0 {
		hc.NanoCPUs = int64(p.CPUs * 1e9)
	}
	if p.Pids > 0 {
		pids := p.Pids
		hc.PidsLimit = &pids
	}
}

// networksFor returns the networks a container joins: the session's own
// (internal) network, plus the default bridge under "bridge", or none at
// all under "none". The first is the one the container is created on.
func networksFor(p policy.Policy, session string) []string {
	switch p.Network {
	case policy.None:
		return nil
	case policy.Bridge:
		return []string{session, defaultBridge}
	}
	return []string{session}
}
