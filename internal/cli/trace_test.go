package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

// bridgeGateway is the host's address on the engine's default bridge: a
// receiver there is reachable from containers under network "bridge".
func bridgeGateway(t *testing.T) string {
	t.Helper()
	cli, err := client.New(client.FromEnv, client.WithAPIVersionNegotiation())
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	res, err := cli.NetworkInspect(context.Background(), "bridge", client.NetworkInspectOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range res.Network.IPAM.Config {
		if c.Gateway.IsValid() && c.Gateway.Is4() {
			return c.Gateway.String()
		}
	}
	t.Fatal("the bridge network has no IPv4 gateway")
	return ""
}

// TestTraceOfARun: --otel-endpoint sends the run's trace to a collector
// (here the package's own OTLP receiver) and the output folder gets the
// same trace as OTLP JSON. The spans form run → suite → scenario → step,
// with service starts under the suite; a failed step is an error span whose
// message has no secret; and the instrumented app's own server span joins
// the trace under the http step that called it.
func TestTraceOfARun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs containers")
	}
	recv, err := telemetry.NewReceiver(bridgeGateway(t) + ":0")
	if err != nil {
		t.Fatal(err)
	}
	defer recv.Close()
	dir := t.TempDir()
	path := writeSuite(t, dir, "traced", `name = "traced"

[policy]
secrets = ["APP_TOKEN"]

[services.app]
type = "generic"
image = "cleanroom-fixtures/otelapp:1"
ports = [8080]
env = { OTEL_EXPORTER_OTLP_ENDPOINT = "`+recv.Endpoint()+`", OTEL_SERVICE_NAME = "otelapp", APP_TOKEN = "tok-trace-5150" }
wait = { http = "/healthz", port = 8080 }
policy = { network = "bridge" }

[[scenario]]
name = "users"

[[scenario.step]]
name = "list"
http = { service = "app", path = "/users" }
expect = { status = 200 }

[[scenario.step]]
name = "leaks"
image = "busybox:latest"
exec = ["sh", "-c", "echo tok-trace-5150; exit 1"]
`)
	out := filepath.Join(dir, "out")
	code, stdout, stderr := runCLI(t, "run", "--out", out, "--otel-endpoint", "http://"+recv.Addr(), path)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1 (the last step fails)\n%s\n%s", code, stdout, stderr)
	}
	// The app exports synchronously; the runner's spans were flushed at exit.
	deadline := time.Now().Add(5 * time.Second)
	byName := map[string]telemetry.Span{}
	for time.Now().Before(deadline) {
		byName = map[string]telemetry.Span{}
		for _, s := range recv.Spans() {
			byName[s.Name] = s
		}
		if _, ok := byName["GET /users"]; ok && byName["cleanroom run"].SpanID != "" {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	parent := func(child, want string) {
		t.Helper()
		c, p := byName[child], byName[want]
		if c.SpanID == "" || p.SpanID == "" || c.ParentSpanID != p.SpanID || c.TraceID != p.TraceID {
			t.Errorf("span %q (parent %s, trace %s): want it under %q (%s, trace %s)", child, c.ParentSpanID, c.TraceID, want, p.SpanID, p.TraceID)
		}
	}
	parent("suite traced", "cleanroom run")
	parent("service app", "suite traced")
	parent("scenario users", "suite traced")
	parent("step list", "scenario users")
	parent("step leaks", "scenario users")
	parent("GET /users", "step list") // the app's own span, through traceparent
	if id, _ := byName["service app"].Attributes["container.image.id"].(string); !strings.HasPrefix(id, "sha256:") {
		t.Errorf("service span: container.image.id %q, want the image's digest", id)
	}
	if s := byName["GET /users"]; s.Service != "otelapp" || s.Attributes["http.response.status_code"] != int64(200) {
		t.Errorf("app span: service %q, attributes %v", s.Service, s.Attributes)
	}
	if s := byName["step leaks"]; s.Status != "error" || s.StatusMessage == "" || strings.Contains(s.StatusMessage, "tok-trace-5150") {
		t.Errorf("failed step span: status %s %q: want error with a redacted reason", s.Status, s.StatusMessage)
	}
	if s := byName["step list"]; s.Status != "ok" || s.Attributes["http.response.status_code"] != int64(200) {
		t.Errorf("passed step span: status %s, attributes %v", s.Status, s.Attributes)
	}

	// The same spans, as OTLP JSON lines, in the output folder.
	f, err := os.Open(filepath.Join(out, "trace.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	names := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 16<<20)
	for sc.Scan() {
		var req struct {
			ResourceSpans []struct {
				ScopeSpans []struct {
					Spans []struct {
						Name    string `json:"name"`
						TraceID string `json:"traceId"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		}
		if err := json.Unmarshal(sc.Bytes(), &req); err != nil {
			t.Fatalf("trace file line: %v", err)
		}
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				for _, s := range ss.Spans {
					names[s.Name] = true
					if s.TraceID != byName["cleanroom run"].TraceID {
						t.Errorf("trace file span %q in trace %s, want %s", s.Name, s.TraceID, byName["cleanroom run"].TraceID)
					}
				}
			}
		}
	}
	for _, n := range []string{"cleanroom run", "suite traced", "service app", "scenario users", "step list", "step leaks"} {
		if !names[n] {
			t.Errorf("trace file lacks span %q (has %v)", n, names)
		}
	}
	b, _ := os.ReadFile(filepath.Join(out, "trace.jsonl"))
	if strings.Contains(string(b), "tok-trace-5150") {
		t.Error("the trace file holds the secret")
	}
}
