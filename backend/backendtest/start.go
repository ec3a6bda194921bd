package backendtest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/errs"
	"github.com/cleanroomhq/cleanroom/policy"
)

func testStart(t *testing.T, s *suite) {
	// Each case starts a container whose main process prints what the spec
	// should have given it; the line must appear in the container's logs.
	mainProcess := []struct {
		name string
		spec backend.ContainerSpec
		want string // a whole line of the logs
	}{
		{
			name: "Env",
			spec: backend.ContainerSpec{
				Env: map[string]string{"GREETING": "hello world", "EMPTY": ""},
				Cmd: []string{"sh", "-c", `echo "env:$GREETING|${EMPTY-unset}"; exec sleep 86400`},
			},
			want: "env:hello world|",
		},
		{
			name: "Cmd",
			spec: backend.ContainerSpec{Cmd: []string{"sh", "-c", "echo cmd-ran; exec sleep 86400"}},
			want: "cmd-ran",
		},
		{
			name: "EntrypointWithCmdAsArguments",
			spec: backend.ContainerSpec{
				Entrypoint: []string{"sh", "-c", `echo "entry:$0:$1"; exec sleep 86400`},
				Cmd:        []string{"first", "second"},
			},
			want: "entry:first:second",
		},
		{
			name: "WorkDir",
			spec: backend.ContainerSpec{WorkDir: "/tmp", Cmd: []string{"sh", "-c", `echo "pwd:$(pwd)"; exec sleep 86400`}},
			want: "pwd:/tmp",
		},
		{
			name: "User",
			spec: backend.ContainerSpec{User: "65534:65534", Cmd: []string{"sh", "-c", `echo "ids:$(id -u):$(id -g)"; exec sleep 86400`}},
			want: "ids:65534:65534",
		},
	}
	for _, tc := range mainProcess {
		t.Run("MainProcess/"+tc.name, func(t *testing.T) {
			t.Parallel()
			sess := s.newSession(t, s.backend(t), selfOwner())
			spec := tc.spec
			spec.Name = "main"
			c := s.start(t, sess, spec)
			waitForLogLine(t, c, tc.want)
		})
	}

	t.Run("FilesCopiedBeforeStart", func(t *testing.T) {
		t.Parallel()
		hostFile := filepath.Join(t.TempDir(), "secret.bin")
		hostBytes := []byte("from the host\x00\x01\xff\n")
		if err := os.WriteFile(hostFile, hostBytes, 0o644); err != nil {
			t.Fatal(err)
		}
		script := "#!/bin/sh\necho script-ran\nexec sleep 86400\n"
		files := []struct {
			file     backend.File
			want     []byte
			wantMode string // as stat -c %a prints it
		}{
			{backend.File{Path: "/opt/app/run.sh", Content: []byte(script), Mode: 0o755}, []byte(script), "755"},
			{backend.File{Path: "/etc/app/config.txt", Content: []byte("key = value\n")}, []byte("key = value\n"), "644"},
			{backend.File{Path: "/srv/data/secret.bin", HostPath: hostFile, Mode: 0o600}, hostBytes, "600"},
			{backend.File{Path: "/srv/data/empty", Content: []byte{}, Mode: 0o640}, []byte{}, "640"},
		}
		spec := backend.ContainerSpec{Name: "files", Cmd: []string{"/opt/app/run.sh"}}
		for _, f := range files {
			spec.Files = append(spec.Files, f.file)
		}
		sess := s.newSession(t, s.backend(t), selfOwner())
		c := s.start(t, sess, spec)
		// The main process is the copied script: it can only have run if the
		// file was in place, executable, before the container started.
		waitForLogLine(t, c, "script-ran")
		for _, f := range files {
			got, err := c.CopyFrom(t.Context(), f.file.Path)
			if err != nil {
				t.Errorf("CopyFrom(%s): got error %v, want the copied file", f.file.Path, err)
				continue
			}
			if !bytes.Equal(got, f.want) {
				t.Errorf("content of %s: got %q, want %q", f.file.Path, got, f.want)
			}
			if mode := strings.TrimSpace(sh(t, c, "stat -c %a "+f.file.Path)); mode != f.wantMode {
				t.Errorf("mode of %s (File.Mode %#o): got %s, want %s", f.file.Path, f.file.Mode, mode, f.wantMode)
			}
		}
	})

	t.Run("PublishedPortReachableFromRunner", func(t *testing.T) {
		t.Parallel()
		ctx := t.Context()
		sess := s.newSession(t, s.backend(t), selfOwner())
		body := "<h1>cleanroom " + sess.ID() + "</h1>\n"
		c := s.start(t, sess, httpdSpec("web", body))
		host, port, err := c.Endpoint(ctx, 8080)
		if err != nil {
			t.Fatalf("Endpoint(8080) of a published port: got error %v, want host and port", err)
		}
		if host == "" || port <= 0 || port > 65535 {
			t.Fatalf("Endpoint(8080): got host %q port %d, want a host and a port in 1..65535", host, port)
		}
		url := "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/index.html"
		// No proxy: the endpoint is for this process to reach, through the
		// container's dialer where it has one.
		client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil,
			DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
				return backend.DialContext(ctx, c, network, addr)
			}}}
		t.Cleanup(client.CloseIdleConnections)
		eventually(t, waitFor, "GET "+url+" to serve the copied file", func() (bool, string) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := client.Do(req)
			if err != nil {
				return false, err.Error()
			}
			defer resp.Body.Close()
			got, err := io.ReadAll(resp.Body)
			if err != nil {
				return false, err.Error()
			}
			return resp.StatusCode == http.StatusOK && string(got) == body,
				fmt.Sprintf("status %d, body %q (want 200 and %q)", resp.StatusCode, got, body)
		})

	})

	t.Run("NoEndpointWithoutNetwork", func(t *testing.T) {
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		spec := httpdSpec("offline", "x")
		spec.Policy = policy.Policy{Network: policy.None}
		c := s.start(t, sess, spec)
		if h, p, err := c.Endpoint(t.Context(), 8080); err == nil {
			t.Errorf("Endpoint(8080) under network none: got %s:%d and no error, want an error", h, p)
		}
	})

	t.Run("ImageRefusedWithoutImages", func(t *testing.T) {
		if !s.h.NoImages {
			t.Skip("the backend runs images")
		}
		t.Parallel()
		sess := s.newSession(t, s.backend(t), selfOwner())
		c, err := sess.Start(t.Context(), backend.ContainerSpec{Name: "imaged", Image: "busybox:1", Cmd: idle})
		if err == nil {
			_ = c.Remove(t.Context())
			t.Fatalf("Start with an image on a backend without images: got container %s and no error, want *errs.BackendError", c.ID())
		}
		var be *errs.BackendError
		if !errors.As(err, &be) {
			t.Fatalf("Start with an image: got %T (%v), want *errs.BackendError", err, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "busybox:1") || !strings.Contains(strings.ToLower(msg), "docker") {
			t.Errorf("error message %q: want it to name the image and point at the Docker backend", msg)
		}
		if r, ok := s.resources(t.Context(), t, sess.ID()); ok && len(r.Containers) > 0 {
			t.Errorf("containers of the session after a refused Start: got %v, want none", r.Containers)
		}
	})

	t.Run("PullNeverWithAbsentImage", func(t *testing.T) {
		if s.h.NoImages {
			t.Skip("the backend runs no images (see ImageRefusedWithoutImages)")
		}
		t.Parallel()
		ctx := t.Context()
		sess := s.newSession(t, s.backend(t), selfOwner())
		image := "cleanroom-backendtest/absent:" + uuid.NewString()[:8]
		c, err := sess.Start(ctx, backend.ContainerSpec{Name: "absent", Image: image, Pull: backend.PullNever, Cmd: idle})
		if err == nil {
			_ = c.Remove(ctx)
			t.Fatalf("Start with absent image %s and PullNever: got container %s and no error, want *errs.ResourceError", image, c.ID())
		}
		var re *errs.ResourceError
		if !errors.As(err, &re) {
			t.Fatalf("Start with absent image and PullNever: got %T (%v), want *errs.ResourceError", err, err)
		}
		if re.Resource != "image" {
			t.Errorf("ResourceError.Resource: got %q, want %q", re.Resource, "image")
		}
		msg := err.Error()
		if !strings.Contains(msg, image) {
			t.Errorf("error message %q: does not name the image %s", msg, image)
		}
		if !imageMapHint.MatchString(msg) {
			t.Errorf("error message %q: does not point at the image map (want a match for %s)", msg, imageMapHint)
		}
		// The session stays open (its network stays), but the failed
		// Start must not leave a container behind.
		if r, ok := s.resources(ctx, t, sess.ID()); ok && len(r.Containers) > 0 {
			t.Errorf("containers of the session after a failed Start: got %v, want none", r.Containers)
		}
	})
}

// imageMapHint matches the ways an error can point a user at the image map:
// the [images] table, CLEANROOM_IMAGE_MAP, or the words.
var imageMapHint = regexp.MustCompile(`(?i)\[images\]|image_map|image map`)

// waitForLogLine polls the container's logs until a line equals want.
func waitForLogLine(t *testing.T, c backend.Container, want string) {
	t.Helper()
	eventually(t, waitFor, fmt.Sprintf("line %q in the logs of %s", want, c.Name()), func() (bool, string) {
		logs := logsSoFar(t, c)
		return hasLine(logs, want), fmt.Sprintf("%q", logs)
	})
}

// logsSoFar reads the container's logs without following.
func logsSoFar(t *testing.T, c backend.Container) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), callLimit)
	defer cancel()
	rc, err := c.Logs(ctx, false)
	if err != nil {
		t.Fatalf("Logs(%s, follow=false): got error %v, want a stream", c.Name(), err)
	}
	defer rc.Close()
	b, err := readAllWithin(t, rc, callLimit, "Logs(follow=false) of "+c.Name())
	if err != nil {
		t.Fatalf("reading Logs(%s, follow=false): got error %v, want the output so far", c.Name(), err)
	}
	return string(b)
}
