package telemetry_test

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/cleanroomhq/cleanroom/telemetry"
)

// A service under test exports to the receiver as it would to a collector;
// here the service is played by a Provider pointed at the receiver.
func ExampleNewReceiver() {
	r, err := telemetry.NewReceiver("127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer r.Close()

	ctx := context.Background()
	app, err := telemetry.NewProvider(ctx, telemetry.Config{Endpoint: r.Endpoint(), ServiceName: "users-api"})
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx, handler := app.Tracer().Start(ctx, "GET /users", trace.WithSpanKind(trace.SpanKindServer))
	_, query := app.Tracer().Start(ctx, "SELECT users")
	query.SetAttributes(attribute.Int("db.rows", 3))
	query.End()
	handler.SetStatus(codes.Ok, "")
	handler.End()
	// Shutdown flushes: when it returns, the receiver has every span.
	if err := app.Shutdown(ctx); err != nil {
		fmt.Println(err)
		return
	}

	names := map[string]string{}
	for _, s := range r.Spans() {
		names[s.SpanID] = s.Name
	}
	for _, s := range r.Spans() {
		fmt.Printf("%s: %q kind=%s status=%s parent=%q attributes=%v\n",
			s.Service, s.Name, s.Kind, s.Status, names[s.ParentSpanID], s.Attributes)
	}
	// Output:
	// users-api: "SELECT users" kind=internal status=unset parent="GET /users" attributes=map[db.rows:3]
	// users-api: "GET /users" kind=server status=ok parent="" attributes=map[]
}
