package runner

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	goredis "github.com/redis/go-redis/v9"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/suite"
)

// outcome is what one attempt of a step produced, before any expectation
// is checked. err is set when the action could not complete (a timeout, a
// refused connection); for sql and redis a server error is a result that
// error_contains may expect, kept in serverErr.
type outcome struct {
	err       error
	serverErr error

	exec *backend.ExecResult

	columns      []string
	rows         [][]any
	rowsAffected int64

	reply any

	status  int
	header  http.Header
	body    []byte
	elapsed time.Duration
}

// clients are the connections a scenario's sql, redis and http steps use.
// They live for one scenario: the reset between scenarios terminates
// PostgreSQL sessions, so each scenario connects anew.
type clients struct {
	pg    map[string]*pgx.Conn
	redis map[string]*goredis.Client
	http  *http.Client
}

// oneShotPolicy is the policy a one-shot step's container runs under, as
// the report and the audit record it: on a backend without images, with no
// seccomp filter, since none is installed there.
func (sr *suiteRun) oneShotPolicy(st *suite.Step) policy.Policy {
	pol := sr.pol.steps[st].Policy
	if sr.env != nil && !backend.RunsImages(sr.env.Backend()) {
		pol.Seccomp = policy.SeccompNone
	}
	return pol
}

// newClients dials with dial: the environment's way to reach its
// containers, which on the local backend is from inside their network
// namespace.
func newClients(dial service.DialFunc) *clients {
	return &clients{
		pg:    map[string]*pgx.Conn{},
		redis: map[string]*goredis.Client{},
		// Each step sets its own deadline through the request context.
		http: &http.Client{
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
			// No proxy: these are the environment's own containers.
			Transport: &http.Transport{DialContext: dial},
		},
	}
}

func (c *clients) close(ctx context.Context) {
	for _, conn := range c.pg {
		closeAndWait(ctx, conn)
	}
	for _, cl := range c.redis {
		_ = cl.Close()
	}
	c.http.CloseIdleConnections()
}

// perform runs one attempt of a step's action.
func (sr *suiteRun) perform(ctx context.Context, st *suite.Step, data map[string]any, cl *clients) outcome {
	timeout := stepTimeout(st, sr.pol.steps[st])
	begin := time.Now()
	var out outcome
	switch st.Kind {
	case suite.StepExec:
		out = sr.performExec(ctx, st, data, timeout)
	case suite.StepSQL:
		out = sr.performSQL(ctx, st, data, cl, timeout)
	case suite.StepRedis:
		out = sr.performRedis(ctx, st, data, cl, timeout)
	case suite.StepHTTP:
		out = sr.performHTTP(ctx, st, data, cl, timeout)
	default:
		out.err = fmt.Errorf("unknown step kind %q", st.Kind)
	}
	out.elapsed = time.Since(begin)
	return out
}

func (sr *suiteRun) performExec(ctx context.Context, st *suite.Step, data map[string]any, timeout time.Duration) outcome {
	argv, err := suite.RenderAll(st.Exec, data)
	if err != nil {
		return outcome{err: err}
	}
	env, err := suite.RenderMap(st.Env, data)
	if err != nil {
		return outcome{err: err}
	}
	workdir, err := st.Workdir.Render(data)
	if err != nil {
		return outcome{err: err}
	}
	seed, _ := data["seed"].(int64)
	env = traceEnv(ctx, containerEnv(env, seed, sr.suite.FreezeTime.Value))
	if st.Service.Value == "" {
		// A command in a service inherits the service's OTEL_* (the
		// receiver's, or the user's own collector); a one-shot
		// container is told here.
		env = sr.otelEnv(env, "")
	}
	sr.shared.secrets.learn(env)
	var res backend.ExecResult
	if st.Service.Value != "" {
		r := sr.services[st.Service.Value]
		res, err = r.inst.Container.Exec(ctx, backend.ExecSpec{Cmd: argv, Env: env, WorkDir: workdir, User: st.User.Value, Timeout: timeout})
	} else {
		pol := sr.oneShotPolicy(st)
		// What ran: on a backend without images, the command's program,
		// as the audit (and the attestation, which reads it) must say.
		ran := st.Image.Value
		if !backend.RunsImages(sr.env.Backend()) {
			ran = "host:" + argv[0]
		}
		sr.audit(st.Name.Value, "one-shot", ran, pol)
		// Its host name comes from the step, not the environment's
		// counter that names the container: the same on every run.
		res, err = sr.env.Run(ctx, backend.ContainerSpec{Hostname: oneShotName(st), Image: st.Image.Value, Cmd: argv, Env: env, WorkDir: workdir, User: st.User.Value, Policy: pol}, timeout)
	}
	if err != nil {
		return outcome{err: err, exec: &res}
	}
	return outcome{exec: &res}
}

// performSQL runs a step's SQL over the simple query protocol, so that a
// step may hold several statements separated by semicolons (they run as
// one implicit transaction: an error in any undoes them all). The rows,
// columns and rows affected are those of the last statement. Cells are
// decoded by type as with pgx's Query: the simple protocol returns text,
// which pgx decodes by each column's type into the same Go values.
func (sr *suiteRun) performSQL(ctx context.Context, st *suite.Step, data map[string]any, cl *clients, timeout time.Duration) outcome {
	q, err := st.SQL.Render(data)
	if err != nil {
		return outcome{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := cl.postgres(ctx, sr.services[st.Service.Value].inst, st.Service.Value)
	if err != nil {
		return outcome{err: err}
	}
	mrr := conn.PgConn().Exec(ctx, q)
	out := outcome{columns: []string{}}
	for mrr.NextResult() {
		rows := pgx.RowsFromResultReader(conn.TypeMap(), mrr.ResultReader())
		res := outcome{columns: []string{}}
		for _, fd := range rows.FieldDescriptions() {
			res.columns = append(res.columns, fd.Name)
		}
		for rows.Next() {
			vals, err := rows.Values()
			if err != nil {
				rows.Close()
				_ = mrr.Close()
				return sqlError(ctx, q, err)
			}
			res.rows = append(res.rows, vals)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			_ = mrr.Close()
			return sqlError(ctx, q, err)
		}
		res.rowsAffected = rows.CommandTag().RowsAffected()
		out = res
	}
	if err := mrr.Close(); err != nil {
		return sqlError(ctx, q, err)
	}
	return out
}

// sqlError separates a server's answer (a result error_contains may expect)
// from a failure to get one. A server error that points into the SQL says
// where, since a step may hold many lines and statements.
func sqlError(ctx context.Context, q string, err error) outcome {
	if ctx.Err() != nil {
		return outcome{err: fmt.Errorf("sql: %w", ctx.Err())}
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		if pgErr.Position > 0 {
			line, col := sqlPosition(q, int(pgErr.Position))
			err = fmt.Errorf("%w, at line %d, column %d of the SQL", err, line, col)
		}
		return outcome{serverErr: err}
	}
	return outcome{err: err}
}

// sqlPosition turns PostgreSQL's error position (1-based, in characters)
// into a line and column.
func sqlPosition(q string, pos int) (line, col int) {
	line, col = 1, 1
	for i, r := range []rune(q) {
		if i+1 >= pos {
			break
		}
		if r == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
	}
	return line, col
}

func (c *clients) postgres(ctx context.Context, inst *service.Instance, name string) (*pgx.Conn, error) {
	if conn, ok := c.pg[name]; ok && !conn.IsClosed() {
		return conn, nil
	}
	conn, err := postgres.Connect(ctx, inst.URL, inst.DialContext)
	if err != nil {
		return nil, fmt.Errorf("connect to %s: %w", name, err)
	}
	c.pg[name] = conn
	return conn, nil
}

func (sr *suiteRun) performRedis(ctx context.Context, st *suite.Step, data map[string]any, cl *clients, timeout time.Duration) outcome {
	args, err := suite.RenderAll(st.Redis, data)
	if err != nil {
		return outcome{err: err}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	r := sr.services[st.Service.Value]
	client, ok := cl.redis[st.Service.Value]
	if !ok {
		client = goredis.NewClient(&goredis.Options{Addr: net.JoinHostPort(r.inst.Host, strconv.Itoa(r.inst.Port)), MaxRetries: -1, Dialer: r.inst.DialContext})
		cl.redis[st.Service.Value] = client
	}
	argv := make([]any, len(args))
	for i, a := range args {
		argv[i] = a
	}
	reply, err := client.Do(ctx, argv...).Result()
	switch {
	case errors.Is(err, goredis.Nil):
		return outcome{reply: nil}
	case err != nil && ctx.Err() != nil:
		return outcome{err: fmt.Errorf("redis: %w", ctx.Err())}
	case err != nil && isRedisServerError(err):
		return outcome{serverErr: err}
	case err != nil:
		return outcome{err: err}
	}
	return outcome{reply: reply}
}

// isRedisServerError tells the server's error replies (which go-redis
// marks with a RedisError method) from network and client errors.
func isRedisServerError(err error) bool {
	var re interface{ RedisError() }
	return errors.As(err, &re)
}

func (sr *suiteRun) performHTTP(ctx context.Context, st *suite.Step, data map[string]any, cl *clients, timeout time.Duration) outcome {
	h := st.HTTP
	url, err := h.URL.Render(data)
	if err != nil {
		return outcome{err: err}
	}
	if url == "" {
		name := h.Service.Value
		if name == "" {
			name = st.Service.Value
		}
		r := sr.services[name]
		port := h.Port.Value
		if port == 0 {
			port = r.decl.PrimaryPort()
		}
		host, hp, err := r.inst.Container.Endpoint(ctx, port)
		if err != nil {
			return outcome{err: err}
		}
		path, err := h.Path.Render(data)
		if err != nil {
			return outcome{err: err}
		}
		if path == "" {
			path = "/"
		}
		url = "http://" + net.JoinHostPort(host, strconv.Itoa(hp)) + path
	}
	var body io.Reader
	contentType := ""
	switch {
	case h.JSON.IsSet():
		v, err := suite.RenderLiteral(h.JSON.Value, data)
		if err != nil {
			return outcome{err: err}
		}
		b, err := json.Marshal(v)
		if err != nil {
			return outcome{err: err}
		}
		body, contentType = bytes.NewReader(b), "application/json"
	case h.Body.IsSet():
		b, err := h.Body.Render(data)
		if err != nil {
			return outcome{err: err}
		}
		body = strings.NewReader(b)
	}
	method := h.Method.Value
	if method == "" {
		method = http.MethodGet
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, url, body)
	if err == nil {
		traceHeader(ctx, req.Header)
	}
	if err != nil {
		return outcome{err: err}
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	headers, err := suite.RenderMap(h.Headers, data)
	if err != nil {
		return outcome{err: err}
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := cl.http.Do(req)
	if err != nil {
		return outcome{err: err}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	if err != nil {
		return outcome{err: fmt.Errorf("read response: %w", err)}
	}
	return outcome{status: resp.StatusCode, header: resp.Header, body: b}
}

// maxBody bounds what an http step reads of a response.
const maxBody = 16 << 20

// oneShotName is a one-shot container's host name: "run-" and the step's
// name as a host name allows.
func oneShotName(st *suite.Step) string {
	var b strings.Builder
	b.WriteString("run-")
	dash := false
	for _, r := range strings.ToLower(st.Name.Value) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9':
			b.WriteRune(r)
			dash = false
		case !dash && b.Len() > len("run-"):
			b.WriteByte('-')
			dash = true
		}
		if b.Len() >= 48 {
			break
		}
	}
	return strings.TrimSuffix(b.String(), "-")
}
