package backendtest

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cleanroomhq/cleanroom/backend"
)

func testCopy(t *testing.T, s *suite) {
	t.Run("RoundTrip", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "files"})

		every := make([]byte, 0, 256*4)
		for range 4 {
			for i := range 256 {
				every = append(every, byte(i))
			}
		}
		random := make([]byte, 1<<20)
		rng := rand.NewChaCha8([32]byte{1, 2, 3})
		_, _ = rng.Read(random)
		hostFile := filepath.Join(t.TempDir(), "from-host.bin")
		hostBytes := append([]byte("host file\n"), every...)
		if err := os.WriteFile(hostFile, hostBytes, 0o644); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name     string
			file     backend.File
			want     []byte
			wantMode string // as stat -c %a prints it
		}{
			{"EveryByteValue", backend.File{Path: "/tmp/every.bin", Content: every, Mode: 0o640}, every, "640"},
			{"OneMiBRandom", backend.File{Path: "/tmp/random.bin", Content: random}, random, "644"},
			{"Empty", backend.File{Path: "/tmp/empty", Content: []byte{}, Mode: 0o600}, []byte{}, "600"},
			{"HostPath", backend.File{Path: "/tmp/from-host.bin", HostPath: hostFile, Mode: 0o755}, hostBytes, "755"},
			{"NewDirectories", backend.File{Path: "/srv/new/deep/file.txt", Content: []byte("deep\n")}, []byte("deep\n"), "644"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				if err := c.CopyTo(t.Context(), tc.file); err != nil {
					t.Fatalf("CopyTo(%s): got error %v, want nil", tc.file.Path, err)
				}
				got, err := c.CopyFrom(t.Context(), tc.file.Path)
				if err != nil {
					t.Fatalf("CopyFrom(%s): got error %v, want the bytes copied in", tc.file.Path, err)
				}
				expectSameBytes(t, tc.file.Path, got, tc.want)
				if mode := strings.TrimSpace(sh(t, c, "stat -c %a "+tc.file.Path)); mode != tc.wantMode {
					t.Errorf("mode of %s (File.Mode %#o): got %s, want %s", tc.file.Path, tc.file.Mode, mode, tc.wantMode)
				}
			})
		}
	})

	t.Run("CopyToReplacesAndCommandsSeeIt", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "files"})
		for _, content := range []string{"first version, longer than the second\n", "second\n"} {
			if err := c.CopyTo(t.Context(), backend.File{Path: "/tmp/replaced.txt", Content: []byte(content)}); err != nil {
				t.Fatalf("CopyTo: got error %v, want nil", err)
			}
			if got := sh(t, c, "cat /tmp/replaced.txt"); got != content {
				t.Errorf("cat of a file written by CopyTo: got %q, want %q", got, content)
			}
		}
	})

	t.Run("CopyFromFileWrittenByCommand", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "files"})
		sh(t, c, `printf 'made inside\n' > /tmp/made.txt`)
		got, err := c.CopyFrom(t.Context(), "/tmp/made.txt")
		if err != nil {
			t.Fatalf("CopyFrom: got error %v, want the file's bytes", err)
		}
		expectSameBytes(t, "/tmp/made.txt", got, []byte("made inside\n"))
	})

	t.Run("CopyFromMissingPathFails", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, backend.ContainerSpec{Name: "files"})
		if got, err := c.CopyFrom(t.Context(), "/no/such/file"); err == nil {
			t.Errorf("CopyFrom(/no/such/file): got %d bytes and no error, want an error", len(got))
		}
	})
}

func expectSameBytes(t *testing.T, path string, got, want []byte) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && i < len(want) && got[i] == want[i] {
		i++
	}
	t.Errorf("bytes of %s: got %d bytes, want %d; first difference at offset %d", path, len(got), len(want), i)
}
