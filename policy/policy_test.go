package policy_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cleanroomhq/cleanroom/policy"
)

func ptr[T any](v T) *T { return &v }

// show prints a value so that two of them compare field by field: nil and
// empty slices and maps print alike, maps in key order, durations as "1m0s".
func show(v any) string { return fmt.Sprintf("%+v", v) }

// showLayers prints layers through their pointers, which %+v would print
// as addresses.
func showLayers(t *testing.T, ls []*policy.Layer) string {
	t.Helper()
	b, err := json.Marshal(ls)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func standard() policy.Policy {
	p, _ := policy.Preset(policy.Standard)
	return p
}

func strict() policy.Policy {
	p, _ := policy.Preset(policy.Strict)
	return p
}

func TestPreset(t *testing.T) {
	tests := []struct {
		name   string
		want   policy.Policy
		wantOK bool
	}{
		{
			name: "standard",
			want: policy.Policy{
				Preset:          "standard",
				Network:         policy.Isolated,
				NoNewPrivileges: true,
				Seccomp:         "default",
				Pids:            4096,
			},
			wantOK: true,
		},
		{
			name: "strict",
			want: policy.Policy{
				Preset:          "strict",
				Network:         policy.Isolated,
				ReadOnlyRootfs:  true,
				Tmpfs:           map[string]int64{"/tmp": 64 << 20},
				CapDrop:         []string{"ALL"},
				NoNewPrivileges: true,
				Seccomp:         "default",
				Memory:          512 << 20,
				CPUs:            1,
				Pids:            256,
			},
			wantOK: true,
		},
		{name: "paranoid", want: policy.Policy{}, wantOK: false},
		{name: "Strict", want: policy.Policy{}, wantOK: false},
		{name: "", want: policy.Policy{}, wantOK: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := policy.Preset(tt.name)
			if ok != tt.wantOK {
				t.Fatalf("Preset(%q): expected ok=%v, got ok=%v", tt.name, tt.wantOK, ok)
			}
			if show(got) != show(tt.want) {
				t.Errorf("Preset(%q):\nexpected %s\n     got %s", tt.name, show(tt.want), show(got))
			}
		})
	}
}

func TestPresetReturnsAFreshCopy(t *testing.T) {
	p := strict()
	p.Tmpfs["/tmp"] = 1
	p.Tmpfs["/run"] = 2
	p.CapDrop[0] = "CHOWN"
	if got := strict(); got.Tmpfs["/tmp"] != 64<<20 || len(got.Tmpfs) != 1 || got.CapDrop[0] != "ALL" {
		t.Errorf("changing one strict preset changed the next: expected tmpfs map[/tmp:67108864] and cap_drop [ALL], got tmpfs %v and cap_drop %v", got.Tmpfs, got.CapDrop)
	}
}

func TestPresets(t *testing.T) {
	want := []string{"standard", "strict"}
	got := policy.Presets()
	if !slices.Equal(got, want) {
		t.Fatalf("Presets(): expected %q, got %q", want, got)
	}
	for _, name := range got {
		p, ok := policy.Preset(name)
		if !ok || p.Preset != name {
			t.Errorf("Preset(%q): expected a preset named %q, got ok=%v and %q", name, name, ok, p.Preset)
		}
	}
}

func TestResolve(t *testing.T) {
	tests := []struct {
		name   string
		layers []*policy.Layer
		want   policy.Policy
		origin map[string]string
	}{
		{
			name: "no layers: standard",
			want: standard(),
		},
		{
			name:   "nil layers are skipped",
			layers: []*policy.Layer{nil, nil, nil},
			want:   standard(),
		},
		{
			name: "a layer naming strict",
			layers: []*policy.Layer{
				{Preset: ptr("strict"), Pos: map[string]string{"preset": "cleanroom.toml:2:10"}},
			},
			want:   strict(),
			origin: map[string]string{"preset": "cleanroom.toml:2:10"},
		},
		{
			name: "the most specific layer naming a preset wins: its values replace the earlier layers'",
			layers: []*policy.Layer{
				{Preset: ptr("strict"), CPUs: ptr(4.0), Pos: map[string]string{"preset": "cleanroom.toml:2:10", "cpus": "cleanroom.toml:3:8"}},
				{Preset: ptr("standard"), Pos: map[string]string{"preset": "s.cleanroom.toml:2:10"}},
				nil,
				{Memory: ptr(int64(64 << 20)), Pos: map[string]string{"memory": "s.cleanroom.toml:20:30"}},
			},
			want: func() policy.Policy {
				p := standard()
				p.Memory = 64 << 20
				return p
			}(),
			// cpus was set, then put back by the suite's preset.
			origin: map[string]string{"preset": "s.cleanroom.toml:2:10", "cpus": "s.cleanroom.toml:2:10", "memory": "s.cleanroom.toml:20:30"},
		},
		{
			name: "a preset applies at its layer: the layers above it are replaced, secrets kept, the layers below override it",
			layers: []*policy.Layer{
				{ // project
					Pids:    ptr(int64(100)),
					Memory:  ptr(int64(1 << 30)),
					Tmpfs:   map[string]int64{"/run": 0},
					Secrets: []string{"TOKEN"},
					Redact:  []string{`sk-\w+`},
					Pos: map[string]string{
						"pids": "cleanroom.toml:3:8", "memory": "cleanroom.toml:4:10", "tmpfs": "cleanroom.toml:5:9",
						"secrets": "cleanroom.toml:6:11", "redact": "cleanroom.toml:7:10",
					},
				},
				nil, // suite
				{ // service
					Preset:  ptr("strict"),
					Secrets: []string{"API_KEY"},
					Pos:     map[string]string{"preset": "s.cleanroom.toml:9:20", "secrets": "s.cleanroom.toml:9:40"},
				},
				{ // step
					CPUs: ptr(2.0),
					Pos:  map[string]string{"cpus": "s.cleanroom.toml:30:20"},
				},
			},
			want: func() policy.Policy {
				p := strict()
				p.CPUs = 2
				p.Secrets = []string{"API_KEY", "TOKEN"}
				p.Redact = []string{`sk-\w+`}
				return p
			}(),
			origin: map[string]string{
				"preset": "s.cleanroom.toml:9:20", "pids": "s.cleanroom.toml:9:20", "memory": "s.cleanroom.toml:9:20",
				"tmpfs": "s.cleanroom.toml:9:20", "secrets": "s.cleanroom.toml:9:40", "redact": "cleanroom.toml:7:10",
				"cpus": "s.cleanroom.toml:30:20",
			},
		},
		{
			name: "the same preset named twice: the second puts back what came between",
			layers: []*policy.Layer{
				{Preset: ptr("strict"), Pos: map[string]string{"preset": "cleanroom.toml:2:10"}},
				{ReadOnlyRootfs: ptr(false), Pos: map[string]string{"read_only_rootfs": "s.cleanroom.toml:3:20"}},
				{Preset: ptr("strict"), Pos: map[string]string{"preset": "s.cleanroom.toml:9:20"}},
			},
			want:   strict(),
			origin: map[string]string{"preset": "s.cleanroom.toml:9:20", "read_only_rootfs": "s.cleanroom.toml:9:20"},
		},
		{
			name: "an unknown preset changes nothing",
			layers: []*policy.Layer{
				{Preset: ptr("paranoid"), Pos: map[string]string{"preset": "s.cleanroom.toml:2:10"}},
			},
			want:   standard(),
			origin: map[string]string{"preset": "s.cleanroom.toml:2:10"},
		},
		{
			name: "keys override layer by layer: project < suite < service < step",
			layers: []*policy.Layer{
				{ // project
					Memory:  ptr(int64(1 << 30)),
					CPUs:    ptr(4.0),
					Pids:    ptr(int64(1000)),
					User:    ptr("1000"),
					Network: ptr(policy.Bridge),
					Volumes: []string{"/data"},
					CapDrop: []string{"NET_RAW"},
					CapAdd:  []string{"NET_ADMIN"},
					Pos: map[string]string{
						"memory": "cleanroom.toml:2:10", "cpus": "cleanroom.toml:3:8", "pids": "cleanroom.toml:4:8",
						"user": "cleanroom.toml:5:8", "network": "cleanroom.toml:6:11", "volumes": "cleanroom.toml:7:11",
						"cap_drop": "cleanroom.toml:8:12", "cap_add": "cleanroom.toml:9:11",
					},
				},
				{ // suite
					Memory:       ptr(int64(512 << 20)),
					CPUs:         ptr(2.0),
					StepTimeout:  ptr(30 * time.Second),
					SuiteTimeout: ptr(10 * time.Minute),
					Network:      ptr(policy.Isolated),
					Pos: map[string]string{
						"memory": "s.cleanroom.toml:2:10", "cpus": "s.cleanroom.toml:3:8",
						"step_timeout": "s.cleanroom.toml:4:16", "suite_timeout": "s.cleanroom.toml:5:17",
						"network": "s.cleanroom.toml:6:11",
					},
				},
				{ // service
					Memory:          ptr(int64(256 << 20)),
					ReadOnlyRootfs:  ptr(true),
					NoNewPrivileges: ptr(false),
					MaxMemory:       ptr(int64(200 << 20)),
					Volumes:         []string{"/var/lib/app"},
					CapAdd:          []string{},
					Pos: map[string]string{
						"memory": "s.cleanroom.toml:12:30", "read_only_rootfs": "s.cleanroom.toml:12:50",
						"no_new_privileges": "s.cleanroom.toml:12:70", "max_memory": "s.cleanroom.toml:12:90",
						"volumes": "s.cleanroom.toml:13:11", "cap_add": "s.cleanroom.toml:14:11",
					},
				},
				{ // step
					Memory:        ptr(int64(128 << 20)),
					MaxCPUSeconds: ptr(1.5),
					Network:       ptr(policy.None),
					Pos: map[string]string{
						"memory": "s.cleanroom.toml:30:20", "max_cpu_seconds": "s.cleanroom.toml:30:40",
						"network": "s.cleanroom.toml:30:60",
					},
				},
			},
			want: func() policy.Policy {
				p := standard()
				p.Memory = 128 << 20
				p.CPUs = 2
				p.Pids = 1000
				p.User = "1000"
				p.Network = policy.None
				p.Volumes = []string{"/var/lib/app"}
				p.CapDrop = []string{"NET_RAW"}
				p.CapAdd = nil
				p.StepTimeout = 30 * time.Second
				p.SuiteTimeout = 10 * time.Minute
				p.ReadOnlyRootfs = true
				p.NoNewPrivileges = false
				p.MaxMemory = 200 << 20
				p.MaxCPUSeconds = 1.5
				return p
			}(),
			origin: map[string]string{
				"memory":            "s.cleanroom.toml:30:20",
				"cpus":              "s.cleanroom.toml:3:8",
				"pids":              "cleanroom.toml:4:8",
				"user":              "cleanroom.toml:5:8",
				"network":           "s.cleanroom.toml:30:60",
				"volumes":           "s.cleanroom.toml:13:11",
				"cap_drop":          "cleanroom.toml:8:12",
				"cap_add":           "s.cleanroom.toml:14:11",
				"step_timeout":      "s.cleanroom.toml:4:16",
				"suite_timeout":     "s.cleanroom.toml:5:17",
				"read_only_rootfs":  "s.cleanroom.toml:12:50",
				"no_new_privileges": "s.cleanroom.toml:12:70",
				"max_memory":        "s.cleanroom.toml:12:90",
				"max_cpu_seconds":   "s.cleanroom.toml:30:40",
			},
		},
		{
			name: "a narrower layer turns a strict default off",
			layers: []*policy.Layer{
				{Preset: ptr("strict"), Pos: map[string]string{"preset": "s.cleanroom.toml:2:10"}},
				{ReadOnlyRootfs: ptr(false), CapDrop: []string{}, Pos: map[string]string{"read_only_rootfs": "s.cleanroom.toml:8:20", "cap_drop": "s.cleanroom.toml:8:40"}},
			},
			want: func() policy.Policy {
				p := strict()
				p.ReadOnlyRootfs = false
				p.CapDrop = nil
				return p
			}(),
			origin: map[string]string{"preset": "s.cleanroom.toml:2:10", "read_only_rootfs": "s.cleanroom.toml:8:20", "cap_drop": "s.cleanroom.toml:8:40"},
		},
		{
			name: "secrets and redact are sorted unions: a narrower layer cannot remove one",
			layers: []*policy.Layer{
				{Secrets: []string{"TOKEN", "API_KEY"}, Redact: []string{`sk-[a-z]+`}, Pos: map[string]string{"secrets": "cleanroom.toml:2:11", "redact": "cleanroom.toml:3:10"}},
				{Secrets: []string{"DB_PASSWORD", "TOKEN"}, Pos: map[string]string{"secrets": "s.cleanroom.toml:2:11"}},
				{Secrets: []string{}, Redact: []string{}, Pos: map[string]string{"secrets": "s.cleanroom.toml:10:30", "redact": "s.cleanroom.toml:10:50"}},
				{Redact: []string{`ghp_\w+`, `sk-[a-z]+`}, Pos: map[string]string{"redact": "s.cleanroom.toml:20:30"}},
			},
			want: func() policy.Policy {
				p := standard()
				p.Secrets = []string{"API_KEY", "DB_PASSWORD", "TOKEN"}
				p.Redact = []string{`ghp_\w+`, `sk-[a-z]+`}
				return p
			}(),
			origin: map[string]string{"secrets": "s.cleanroom.toml:10:30", "redact": "s.cleanroom.toml:20:30"},
		},
		{
			name: "tmpfs merges by path, over the preset's",
			layers: []*policy.Layer{
				{Preset: ptr("strict"), Pos: map[string]string{"preset": "s.cleanroom.toml:2:10"}},
				{Tmpfs: map[string]int64{"/run": 0}, Pos: map[string]string{"tmpfs": "s.cleanroom.toml:12:20"}},
				{Tmpfs: map[string]int64{"/tmp": 128 << 20}, Pos: map[string]string{"tmpfs": "s.cleanroom.toml:30:20"}},
			},
			want: func() policy.Policy {
				p := strict()
				p.Tmpfs = map[string]int64{"/tmp": 128 << 20, "/run": 0}
				return p
			}(),
			origin: map[string]string{"preset": "s.cleanroom.toml:2:10", "tmpfs": "s.cleanroom.toml:30:20"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := policy.Resolve(tt.layers...)
			if show(got.Policy) != show(tt.want) {
				t.Errorf("Resolve: policy\nexpected %s\n     got %s", show(tt.want), show(got.Policy))
			}
			origin := tt.origin
			if origin == nil {
				origin = map[string]string{}
			}
			if show(got.Origin) != show(origin) {
				t.Errorf("Resolve: origin\nexpected %s\n     got %s", show(origin), show(got.Origin))
			}
		})
	}
}

func TestResolveDoesNotMutate(t *testing.T) {
	layers := func() []*policy.Layer {
		return []*policy.Layer{
			{
				Preset:  ptr("strict"),
				Secrets: append(make([]string, 0, 8), "TOKEN"),
				Redact:  append(make([]string, 0, 8), `sk-\w+`),
				Tmpfs:   map[string]int64{"/run": 0},
				Volumes: []string{"/data"},
				Pos:     map[string]string{"preset": "a:1:1", "secrets": "a:2:1", "redact": "a:3:1", "tmpfs": "a:4:1", "volumes": "a:5:1"},
			},
			nil,
			{
				Secrets: append(make([]string, 0, 8), "API_KEY"),
				CapDrop: []string{"NET_RAW"},
				CapAdd:  []string{"CHOWN"},
				Tmpfs:   map[string]int64{"/tmp": 1 << 20},
				Pos:     map[string]string{"secrets": "b:1:1", "cap_drop": "b:2:1", "cap_add": "b:3:1", "tmpfs": "b:4:1"},
			},
		}
	}
	in := layers()
	before := showLayers(t, in)
	first := policy.Resolve(in...)
	firstShown := show(first)

	// Change everything the result holds; neither the layers nor the
	// preset nor the next resolution may see it.
	first.Tmpfs["/tmp"] = 1
	first.Tmpfs["/new"] = 2
	first.Volumes[0] = "/changed"
	first.CapDrop[0] = "ALL"
	first.CapAdd[0] = "SYS_ADMIN"
	first.Secrets[0] = "CHANGED"
	first.Redact[0] = "changed"
	first.Origin["memory"] = "changed"
	first.Memory = 1

	if after := showLayers(t, in); after != before {
		t.Errorf("Resolve or its result changed the layers:\nexpected %s\n     got %s", before, after)
	}
	if got, want := show(policy.Resolve(in...)), firstShown; got != want {
		t.Errorf("resolving the same layers again after changing the first result:\nexpected %s\n     got %s", want, got)
	}
	if got, want := show(strict()), show(policy.Policy{
		Preset: "strict", Network: policy.Isolated, ReadOnlyRootfs: true, Tmpfs: map[string]int64{"/tmp": 64 << 20},
		CapDrop: []string{"ALL"}, NoNewPrivileges: true, Seccomp: "default", Memory: 512 << 20, CPUs: 1, Pids: 256,
	}); got != want {
		t.Errorf("the strict preset changed:\nexpected %s\n     got %s", want, got)
	}
	if got, want := showLayers(t, in), showLayers(t, layers()); got != want {
		t.Errorf("the layers differ from new ones built alike:\nexpected %s\n     got %s", want, got)
	}
}

func TestGrant(t *testing.T) {
	pgNeeds := policy.Needs{
		Caps:      []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
		Writable:  []string{"/var/lib/postgresql/data", "/var/run/postgresql", "/tmp"},
		MinMemory: 48 << 20,
	}
	tests := []struct {
		name        string
		in          policy.Policy
		needs       policy.Needs
		wantCapAdd  []string
		wantTmpfs   map[string]int64
		wantVolumes []string
	}{
		{
			name:       "no needs: unchanged",
			in:         strict(),
			needs:      policy.Needs{},
			wantCapAdd: nil,
			wantTmpfs:  map[string]int64{"/tmp": 64 << 20},
		},
		{
			name:       "standard drops nothing and is writable: unchanged",
			in:         standard(),
			needs:      pgNeeds,
			wantCapAdd: nil,
			wantTmpfs:  nil,
		},
		{
			name:       "strict: every capability added back, a tmpfs for each writable path /tmp does not have yet",
			in:         strict(),
			needs:      pgNeeds,
			wantCapAdd: []string{"CHOWN", "DAC_OVERRIDE", "FOWNER", "SETGID", "SETUID"},
			wantTmpfs:  map[string]int64{"/tmp": 64 << 20, "/var/lib/postgresql/data": 0, "/var/run/postgresql": 0},
		},
		{
			name:       "ALL in any case drops every capability",
			in:         policy.Policy{CapDrop: []string{"all"}},
			needs:      policy.Needs{Caps: []string{"CHOWN", "SETUID"}},
			wantCapAdd: []string{"CHOWN", "SETUID"},
		},
		{
			name:       "capabilities dropped by name: only those are added back",
			in:         policy.Policy{CapDrop: []string{"NET_RAW", "CHOWN"}},
			needs:      policy.Needs{Caps: []string{"CHOWN", "SETUID"}},
			wantCapAdd: []string{"CHOWN"},
		},
		{
			name:       "a capability already added is not added twice",
			in:         policy.Policy{CapDrop: []string{"ALL"}, CapAdd: []string{"SETUID", "NET_BIND_SERVICE"}},
			needs:      policy.Needs{Caps: []string{"CHOWN", "SETUID"}},
			wantCapAdd: []string{"SETUID", "NET_BIND_SERVICE", "CHOWN"},
		},
		{
			name:  "writable root file system: no tmpfs",
			in:    policy.Policy{ReadOnlyRootfs: false},
			needs: policy.Needs{Writable: []string{"/data", "/tmp"}},
		},
		{
			name:      "read-only with no tmpfs yet: one per path, engine's default size",
			in:        policy.Policy{ReadOnlyRootfs: true},
			needs:     policy.Needs{Writable: []string{"/data", "/tmp"}},
			wantTmpfs: map[string]int64{"/data": 0, "/tmp": 0},
		},
		{
			name:        "read-only, paths covered by a tmpfs or a volume: nothing added",
			in:          policy.Policy{ReadOnlyRootfs: true, Tmpfs: map[string]int64{"/tmp": 8 << 20}, Volumes: []string{"/data"}},
			needs:       policy.Needs{Writable: []string{"/data", "/tmp"}},
			wantTmpfs:   map[string]int64{"/tmp": 8 << 20},
			wantVolumes: []string{"/data"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tt.in.Grant(tt.needs)
			if show(got.CapAdd) != show(tt.wantCapAdd) {
				t.Errorf("Grant: cap_add: expected %q, got %q", tt.wantCapAdd, got.CapAdd)
			}
			if show(got.Tmpfs) != show(tt.wantTmpfs) {
				t.Errorf("Grant: tmpfs: expected %v, got %v", tt.wantTmpfs, got.Tmpfs)
			}
			if show(got.Volumes) != show(tt.wantVolumes) {
				t.Errorf("Grant: volumes: expected %q, got %q", tt.wantVolumes, got.Volumes)
			}
			// Everything else passes through.
			rest, want := got, tt.in
			rest.CapAdd, rest.Tmpfs, want.CapAdd, want.Tmpfs = nil, nil, nil, nil
			if show(rest) != show(want) {
				t.Errorf("Grant changed more than cap_add and tmpfs:\nexpected %s\n     got %s", show(want), show(rest))
			}
		})
	}
}

func TestGrantDoesNotMutate(t *testing.T) {
	in := strict()
	in.CapAdd = append(make([]string, 0, 8), "NET_BIND_SERVICE") // room to append in place
	before := show(in)
	got := in.Grant(policy.Needs{Caps: []string{"CHOWN"}, Writable: []string{"/data"}})
	if after := show(in); after != before {
		t.Errorf("Grant changed its input:\nexpected %s\n     got %s", before, after)
	}
	if want := []string{"NET_BIND_SERVICE", "CHOWN"}; !slices.Equal(got.CapAdd, want) {
		t.Errorf("Grant: cap_add: expected %q, got %q", want, got.CapAdd)
	}
	if _, ok := got.Tmpfs["/data"]; !ok {
		t.Errorf("Grant: expected a tmpfs at /data, got %v", got.Tmpfs)
	}
}

func TestRules(t *testing.T) {
	type check struct {
		p    policy.Policy
		want string // "" when p satisfies the rule
	}
	tests := map[string][]check{
		"read_only_rootfs": {
			{policy.Policy{ReadOnlyRootfs: true}, ""},
			{policy.Policy{}, "its root file system is writable (set read_only_rootfs = true)"},
		},
		"no_egress": {
			{policy.Policy{Network: policy.Isolated}, ""},
			{policy.Policy{Network: policy.None}, ""},
			{policy.Policy{Network: policy.Bridge}, `its network is "bridge", which has a route out (use "isolated" or "none")`},
		},
		"non_root": {
			{policy.Policy{User: "1000"}, ""},
			{policy.Policy{User: "postgres"}, ""},
			{policy.Policy{User: "1000:0"}, ""},
			{policy.Policy{}, "it runs as the image's default user, which may be root (set user to a non-root user)"},
			{policy.Policy{User: "root"}, `it runs as "root" (set user to a non-root user)`},
			{policy.Policy{User: "0:0"}, `it runs as "0:0" (set user to a non-root user)`},
		},
		"memory_limit": {
			{policy.Policy{Memory: 6 << 20}, ""},
			{policy.Policy{}, "it has no memory limit (set memory)"},
		},
		"cpu_limit": {
			{policy.Policy{CPUs: 0.5}, ""},
			{policy.Policy{}, "it has no CPU limit (set cpus)"},
		},
		"pids_limit": {
			{policy.Policy{Pids: 1}, ""},
			{policy.Policy{}, "it has no process limit (set pids)"},
		},
		"no_capabilities": {
			{policy.Policy{CapDrop: []string{"ALL"}}, ""},
			{policy.Policy{CapDrop: []string{"all"}}, ""},
			{policy.Policy{}, `it keeps the engine's default capabilities (set cap_drop = ["ALL"])`},
			{policy.Policy{CapDrop: []string{"NET_RAW", "CHOWN"}}, `it keeps the engine's default capabilities (set cap_drop = ["ALL"])`},
			{policy.Policy{CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN", "SETUID"}}, "it adds capabilities CHOWN, SETUID"},
		},
		"no_new_privileges": {
			{policy.Policy{NoNewPrivileges: true}, ""},
			{policy.Policy{}, "no_new_privileges is off"},
		},
	}
	if got, want := policy.RuleNames(), slices.Sorted(func(yield func(string) bool) {
		for name := range tests {
			if !yield(name) {
				return
			}
		}
	}); !slices.Equal(got, want) {
		t.Fatalf("RuleNames(): expected the rules this test covers, %q, got %q", want, got)
	}
	for name, checks := range tests {
		r, ok := policy.LookupRule(name)
		if !ok {
			t.Errorf("Rules[%q]: expected a rule, got none", name)
			continue
		}
		if r.Name != name {
			t.Errorf("Rules[%q].Name: expected %q, got %q", name, name, r.Name)
		}
		if r.Doc == "" {
			t.Errorf("Rules[%q].Doc: expected a description, got none", name)
		}
		var sat, viol int
		for _, c := range checks {
			if got := r.Check(c.p); got != c.want {
				t.Errorf("Rules[%q].Check(%s): expected %q, got %q", name, show(c.p), c.want, got)
			}
			// Check with this rule alone agrees with the rule.
			vs := policy.Check(c.p, []string{name})
			var want []policy.Violation
			if c.want != "" {
				want = []policy.Violation{{Rule: name, Message: c.want}}
				viol++
			} else {
				sat++
			}
			if show(vs) != show(want) {
				t.Errorf("Check(%s, [%s]): expected %+v, got %+v", show(c.p), name, want, vs)
			}
		}
		if sat == 0 || viol == 0 {
			t.Errorf("rule %q: expected a satisfying and a violating case, got %d and %d", name, sat, viol)
		}
	}
}

func TestRuleNames(t *testing.T) {
	want := []string{"cpu_limit", "memory_limit", "no_capabilities", "no_egress", "no_new_privileges", "non_root", "pids_limit", "read_only_rootfs"}
	if got := policy.RuleNames(); !slices.Equal(got, want) {
		t.Errorf("RuleNames(): expected %q, got %q", want, got)
	}
}

func TestCheck(t *testing.T) {
	all := policy.RuleNames()
	tests := []struct {
		name    string
		p       policy.Policy
		require []string
		want    []string // "rule: message"
	}{
		{name: "nothing required", p: policy.Policy{}, require: nil, want: nil},
		{
			name:    "standard against every rule",
			p:       standard(),
			require: all,
			want: []string{
				"cpu_limit: it has no CPU limit (set cpus)",
				"memory_limit: it has no memory limit (set memory)",
				`no_capabilities: it keeps the engine's default capabilities (set cap_drop = ["ALL"])`,
				"non_root: it runs as the image's default user, which may be root (set user to a non-root user)",
				"read_only_rootfs: its root file system is writable (set read_only_rootfs = true)",
			},
		},
		{
			name:    "strict against every rule: only the user is left to the suite",
			p:       strict(),
			require: all,
			want:    []string{"non_root: it runs as the image's default user, which may be root (set user to a non-root user)"},
		},
		{
			name: "strict with a user satisfies every rule",
			p: func() policy.Policy {
				p := strict()
				p.User = "65534"
				return p
			}(),
			require: all,
			want:    nil,
		},
		{
			name:    "in require's order, unknown rules skipped",
			p:       policy.Policy{Network: policy.Bridge},
			require: []string{"no_new_privileges", "no_such_rule", "no_egress", "memory_limit"},
			want: []string{
				"no_new_privileges: no_new_privileges is off",
				`no_egress: its network is "bridge", which has a route out (use "isolated" or "none")`,
				"memory_limit: it has no memory limit (set memory)",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var got []string
			for _, v := range policy.Check(tt.p, tt.require) {
				got = append(got, v.Rule+": "+v.Message)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Check(%s, %q):\nexpected %q\n     got %q", show(tt.p), tt.require, tt.want, got)
			}
		})
	}
}

func TestIsRoot(t *testing.T) {
	tests := []struct {
		user string
		want bool
	}{
		{"", true},
		{"root", true},
		{"0", true},
		{"0:0", true},
		{"root:root", true},
		{"1000", false},
		{"postgres", false},
		{"1000:0", false},
		{"65534:65534", false},
	}
	for _, tt := range tests {
		if got := (policy.Policy{User: tt.user}).IsRoot(); got != tt.want {
			t.Errorf("IsRoot() with user %q: expected %v, got %v", tt.user, tt.want, got)
		}
	}
}

func TestDropsAll(t *testing.T) {
	tests := []struct {
		drop []string
		want bool
	}{
		{nil, false},
		{[]string{"ALL"}, true},
		{[]string{"all"}, true},
		{[]string{"NET_RAW", "ALL"}, true},
		{[]string{"NET_RAW", "CHOWN"}, false},
	}
	for _, tt := range tests {
		if got := (policy.Policy{CapDrop: tt.drop}).DropsAll(); got != tt.want {
			t.Errorf("DropsAll() with cap_drop %q: expected %v, got %v", tt.drop, tt.want, got)
		}
	}
}

func TestNormalizeCapability(t *testing.T) {
	tests := []struct {
		in     string
		want   string
		wantOK bool
	}{
		{"cap_net_admin", "NET_ADMIN", true},
		{"CAP_NET_ADMIN", "NET_ADMIN", true},
		{"NET_ADMIN", "NET_ADMIN", true},
		{"net_admin", "NET_ADMIN", true},
		{"Cap_Chown", "CHOWN", true},
		{"all", "ALL", true},
		{"syslog", "SYSLOG", true},
		{"net_admn", "NET_ADMN", false},
		{"cap_", "", false},
		{"", "", false},
	}
	for _, tt := range tests {
		got, ok := policy.NormalizeCapability(tt.in)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("NormalizeCapability(%q): expected %q, %v; got %q, %v", tt.in, tt.want, tt.wantOK, got, ok)
		}
	}
}

func TestFormatSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0B"},
		{1, "1B"},
		{1023, "1023B"},
		{1024, "1KiB"},
		{1536, "1536B"},
		{6 << 20, "6MiB"},
		{48 << 20, "48MiB"},
		{1<<20 + 1024, "1025KiB"},
		{3 << 30, "3GiB"},
		{1 << 40, "1TiB"},
		{1 << 50, "1024TiB"},
	}
	for _, tt := range tests {
		if got := policy.FormatSize(tt.n); got != tt.want {
			t.Errorf("FormatSize(%d): expected %q, got %q", tt.n, tt.want, got)
		}
	}
}

func TestDescribe(t *testing.T) {
	tests := []struct {
		name string
		p    policy.Policy
		want string
	}{
		{"standard", standard(), "isolated, pids 4096"},
		{"strict", strict(), "isolated, read-only, cap_drop ALL, memory 512MiB, cpus 1, pids 256"},
		{
			"everything",
			policy.Policy{
				Network: policy.Bridge, ReadOnlyRootfs: true, CapDrop: []string{"ALL"}, CapAdd: []string{"CHOWN", "SETUID"},
				User: "1000:1000", Memory: 256 << 20, CPUs: 0.5, Pids: 64,
			},
			"bridge, read-only, cap_drop ALL, cap_add CHOWN,SETUID, user 1000:1000, memory 256MiB, cpus 0.5, pids 64",
		},
		{"root is not shown", policy.Policy{Network: policy.None, User: "root"}, "none"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.Describe(); got != tt.want {
				t.Errorf("Describe():\nexpected %q\n     got %q", tt.want, got)
			}
		})
	}
}

func TestClone(t *testing.T) {
	p := strict()
	p.Volumes = []string{"/data"}
	p.CapAdd = []string{"CHOWN"}
	p.Secrets = []string{"TOKEN"}
	p.Redact = []string{"x+"}
	before := show(p)
	c := p.Clone()
	c.Tmpfs["/tmp"] = 1
	c.Volumes[0] = "/changed"
	c.CapDrop[0] = "CHOWN"
	c.CapAdd[0] = "SYS_ADMIN"
	c.Secrets[0] = "CHANGED"
	c.Redact[0] = "changed"
	if after := show(p); after != before {
		t.Errorf("changing a clone changed the original:\nexpected %s\n     got %s", before, after)
	}
}

// A preset says how a container is locked; it leaves what broader layers
// said about users, volumes, timeouts and thresholds alone.
func TestResolvePresetKeepsRunnerLimits(t *testing.T) {
	project := &policy.Layer{
		StepTimeout: ptr(10 * time.Second), MaxMemory: ptr(int64(64 << 20)), User: ptr("1000"),
		Memory: ptr(int64(1 << 30)),
		Pos:    map[string]string{"step_timeout": "p:1:1", "max_memory": "p:2:1", "user": "p:3:1", "memory": "p:4:1"},
	}
	service := &policy.Layer{Preset: ptr(policy.Strict), Pos: map[string]string{"preset": "s:1:1"}}
	e := policy.Resolve(project, service)
	if e.StepTimeout != 10*time.Second || e.MaxMemory != 64<<20 || e.User != "1000" {
		t.Errorf("step_timeout %s, max_memory %d, user %q: expected the project's 10s, 64MiB, 1000", e.StepTimeout, e.MaxMemory, e.User)
	}
	if e.Memory != 512<<20 || e.Origin["memory"] != "s:1:1" {
		t.Errorf("memory %d from %q: expected strict's 512MiB from the preset at s:1:1", e.Memory, e.Origin["memory"])
	}
	if e.Origin["step_timeout"] != "p:1:1" {
		t.Errorf("step_timeout from %q, expected p:1:1", e.Origin["step_timeout"])
	}
}

func TestWithFiles(t *testing.T) {
	strict, _ := policy.Preset(policy.Strict)
	tests := []struct {
		name        string
		p           policy.Policy
		paths       []string
		wantVolumes []string
		wantTmpfs   []string
	}{
		{"writable root needs nothing", policy.Policy{}, []string{"/www/index.html"}, nil, nil},
		{"a tmpfs would hide the file, even on a writable root", policy.Policy{Tmpfs: map[string]int64{"/tmp": 0, "/run": 0}}, []string{"/tmp/x"}, []string{"/tmp"}, []string{"/run"}},
		{"a directory becomes a volume, once", strict, []string{"/www/a", "/www/b", "/etc/app/c.conf"}, []string{"/www", "/etc/app"}, []string{"/tmp"}},
		{"inside a volume already", policy.Policy{ReadOnlyRootfs: true, Volumes: []string{"/data"}}, []string{"/data/x/y"}, []string{"/data"}, nil},
		{"a tmpfs becomes a volume", strict, []string{"/tmp/seed/x"}, []string{"/tmp"}, nil},
		{"the root cannot be a volume", strict, []string{"/x"}, nil, []string{"/tmp"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.p.Clone()
			got := tt.p.WithFiles(tt.paths)
			if !slices.Equal(got.Volumes, tt.wantVolumes) {
				t.Errorf("volumes %q, expected %q", got.Volumes, tt.wantVolumes)
			}
			tmpfs := slices.Sorted(maps.Keys(got.Tmpfs))
			if !slices.Equal(tmpfs, tt.wantTmpfs) {
				t.Errorf("tmpfs %q, expected %q", tmpfs, tt.wantTmpfs)
			}
			if !reflect.DeepEqual(tt.p, before) {
				t.Errorf("WithFiles changed its receiver: %+v, was %+v", tt.p, before)
			}
		})
	}
}
