package postgres

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/cleanroomhq/cleanroom/service"
)

// Cloner hands out clean databases cloned from a template database.
//
// A plain `CREATE DATABASE … TEMPLATE` costs tens of milliseconds, paid by
// every test that waits for it. The Cloner instead keeps a few clones made
// ahead of time in the background, so a test takes a finished one and the
// clone for the next test is made while this one runs.
type Cloner struct {
	admin    *pgxpool.Pool
	template string
	strategy string // " STRATEGY FILE_COPY" on servers that have it

	ready  chan string
	failed chan error
	seq    atomic.Int64
	// tag makes this Cloner's database names its own: a Cloner created on
	// a server another one used (a service reused after it lingered out)
	// must not collide with, nor drop, what the other made.
	tag    uint32
	cancel context.CancelFunc
	wg     sync.WaitGroup

	drops    sync.WaitGroup // Release's background drops
	dropping sync.Mutex     // one drop at a time

	mu       sync.Mutex
	closed   bool
	dropErrs []error
	issued   map[string]bool // handed out and not yet dropped
}

// ClonerOption tunes a Cloner.
type ClonerOption func(*clonerConfig)

type clonerConfig struct {
	ahead, workers int
	dial           service.DialFunc
}

// WithDialer connects through dial (service.Instance.DialContext) instead
// of directly: the local backend's servers are in a network namespace of
// their own.
func WithDialer(dial service.DialFunc) ClonerOption { return func(c *clonerConfig) { c.dial = dial } }

// WithAhead sets how many clones are kept ready (default 4).
func WithAhead(n int) ClonerOption { return func(c *clonerConfig) { c.ahead = max(1, n) } }

// WithWorkers sets how many clones are made concurrently (default 2, the
// number of cores a CI runner typically has).
func WithWorkers(n int) ClonerOption { return func(c *clonerConfig) { c.workers = max(1, n) } }

// NewCloner turns database template into a template (no connections allowed
// from now on, so a clone never fails for "source database is being accessed
// by other users") and starts cloning ahead. adminDSN must name another
// database of the same server, with a superuser.
func NewCloner(ctx context.Context, adminDSN, template string, opts ...ClonerOption) (*Cloner, error) {
	cfg := clonerConfig{ahead: 4, workers: 2}
	for _, o := range opts {
		o(&cfg)
	}
	pcfg, err := pgxpool.ParseConfig(adminDSN)
	if err != nil {
		return nil, fmt.Errorf("postgres cloner: %w", err)
	}
	pcfg.MaxConns = int32(cfg.workers + 2)
	if cfg.dial != nil {
		pcfg.ConnConfig.DialFunc = cfg.dial
	}
	admin, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("postgres cloner: %w", err)
	}
	c := &Cloner{admin: admin, template: template, tag: rand.Uint32(), ready: make(chan string, cfg.ahead), failed: make(chan error, cfg.workers), issued: map[string]bool{}}

	var version int
	if err := admin.QueryRow(ctx, "SELECT current_setting('server_version_num')::int").Scan(&version); err != nil {
		admin.Close()
		return nil, fmt.Errorf("postgres cloner: %w", err)
	}
	if version >= 150000 {
		// FILE_COPY copies the template's files; the WAL_LOG default of 15+
		// writes every block through the WAL, which is slower for the small
		// databases tests use.
		c.strategy = " STRATEGY FILE_COPY"
	}
	q := pgx.Identifier{template}.Sanitize()
	if _, err := admin.Exec(ctx, "ALTER DATABASE "+q+" WITH IS_TEMPLATE true ALLOW_CONNECTIONS false"); err != nil {
		admin.Close()
		return nil, fmt.Errorf("postgres cloner: make %s a template: %w", template, err)
	}
	if err := endSessions(ctx, admin, template); err != nil {
		admin.Close()
		return nil, fmt.Errorf("postgres cloner: %w", err)
	}

	bg, cancel := context.WithCancel(context.WithoutCancel(ctx))
	c.cancel = cancel
	for range cfg.workers {
		c.wg.Go(func() { c.fill(bg) })
	}
	return c, nil
}

// fill clones until the Cloner closes; the channel's capacity bounds how far
// ahead it runs.
func (c *Cloner) fill(ctx context.Context) {
	for ctx.Err() == nil {
		name, err := c.clone(ctx)
		if err != nil {
			if ctx.Err() == nil {
				select {
				case c.failed <- err:
				default:
				}
			}
			return
		}
		select {
		case c.ready <- name:
		case <-ctx.Done():
			_ = c.drop(context.Background(), name)
			return
		}
	}
}

func (c *Cloner) clone(ctx context.Context) (string, error) {
	name := fmt.Sprintf("%s_%08x_%d", c.template, c.tag, c.seq.Add(1))
	sql := "CREATE DATABASE " + pgx.Identifier{name}.Sanitize() + " TEMPLATE " + pgx.Identifier{c.template}.Sanitize() + c.strategy
	if _, err := c.admin.Exec(ctx, sql); err != nil {
		return "", fmt.Errorf("clone %s: %w", c.template, err)
	}
	return name, nil
}

// Acquire returns the name of a fresh database, identical to the template.
// The caller owns it and gives it back with Drop.
func (c *Cloner) Acquire(ctx context.Context) (string, error) {
	var name string
	select {
	case name = <-c.ready:
	case err := <-c.failed:
		return "", err
	case <-ctx.Done():
		return "", ctx.Err()
	}
	c.mu.Lock()
	c.issued[name] = true
	c.mu.Unlock()
	return name, nil
}

// Drop removes a database handed out by Acquire, terminating its
// connections.
func (c *Cloner) Drop(ctx context.Context, name string) error {
	c.mu.Lock()
	delete(c.issued, name)
	c.mu.Unlock()
	return c.drop(ctx, name)
}

// Release gives back a database handed out by Acquire and drops it in the
// background, so the test that used it does not wait for the DROP (tens of
// milliseconds). One drop runs at a time, leaving the other core to the
// clones made ahead. Close waits for pending drops and reports their errors.
func (c *Cloner) Release(name string) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return // Close dropped every database it had handed out
	}
	c.drops.Go(func() {
		c.dropping.Lock()
		defer c.dropping.Unlock()
		if err := c.Drop(context.Background(), name); err != nil {
			c.mu.Lock()
			c.dropErrs = append(c.dropErrs, fmt.Errorf("drop %s: %w", name, err))
			c.mu.Unlock()
		}
	})
}

func (c *Cloner) drop(ctx context.Context, name string) error {
	_, err := c.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	return err
}

// Close stops cloning and drops the clones still waiting. Databases handed
// out and not dropped are dropped too.
func (c *Cloner) Close(ctx context.Context) error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	c.drops.Wait()
	all := c.dropErrs
	for {
		select {
		case name := <-c.ready:
			all = append(all, c.drop(ctx, name))
			continue
		default:
		}
		break
	}
	c.mu.Lock()
	for name := range c.issued {
		all = append(all, c.drop(ctx, name))
	}
	c.issued = nil
	c.mu.Unlock()
	c.admin.Close()
	return errors.Join(all...)
}

// SwapIn replaces database target with a fresh clone, keeping its name: the
// used database's sessions are terminated, it is renamed out of the way and
// dropped in the background (Release), and a clone made ahead of time is
// renamed to target. Services that connect to target by name see the clean
// state once they reconnect; until the rename, target does not exist.
//
// Renaming instead of dropping in line keeps the DROP (tens of
// milliseconds) off the path of the scenario that waits for the swap.
func (c *Cloner) SwapIn(ctx context.Context, target string) error {
	name, err := c.Acquire(ctx)
	if err != nil {
		return err
	}
	used := fmt.Sprintf("%s_used_%08x_%d", target, c.tag, c.seq.Add(1))
	if err := c.renameAway(ctx, target, used); err != nil {
		_ = c.Drop(ctx, name)
		return err
	}
	if _, err := c.admin.Exec(ctx, "ALTER DATABASE "+pgx.Identifier{name}.Sanitize()+" RENAME TO "+pgx.Identifier{target}.Sanitize()); err != nil {
		_ = c.Drop(ctx, name)
		return fmt.Errorf("rename %s to %s: %w", name, target, err)
	}
	c.mu.Lock()
	delete(c.issued, name)
	c.issued[used] = true
	c.mu.Unlock()
	c.Release(used)
	return nil
}

// renameAway renames database from to to after terminating its sessions.
// RENAME has no FORCE: a client that reconnects between the two makes it
// fail with "being accessed by other users" (SQLSTATE 55006), so it is
// tried again a few times.
func (c *Cloner) renameAway(ctx context.Context, from, to string) error {
	sql := "ALTER DATABASE " + pgx.Identifier{from}.Sanitize() + " RENAME TO " + pgx.Identifier{to}.Sanitize()
	var err error
	for range 5 {
		if err = endSessions(ctx, c.admin, from); err != nil {
			break
		}
		if _, err = c.admin.Exec(ctx, sql); err == nil {
			return nil
		}
		var pgErr *pgconn.PgError
		if !errors.As(err, &pgErr) || pgErr.Code != "55006" {
			break
		}
	}
	return fmt.Errorf("rename %s out of the way: %w", from, err)
}

// querier is what endSessions needs: a *pgx.Conn or a *pgxpool.Pool.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// endSessions terminates the sessions connected to database name and waits,
// polling every millisecond for at most a second, until they have exited.
// RENAME, DROP and CREATE DATABASE … TEMPLATE would otherwise find a backend
// still on its way out and sleep 100 ms before they look again.
func endSessions(ctx context.Context, q querier, name string) error {
	deadline := time.Now().Add(time.Second)
	for {
		var n int
		err := q.QueryRow(ctx, "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()", name).Scan(&n)
		if err != nil || n == 0 || time.Now().After(deadline) {
			return err
		}
		select {
		case <-time.After(time.Millisecond):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// CopyDatabase creates database dst as a copy of src, terminating the
// sessions connected to src first (a template must have none).
func CopyDatabase(ctx context.Context, adminDSN, src, dst string, opts ...ClonerOption) error {
	var cfg clonerConfig
	for _, o := range opts {
		o(&cfg)
	}
	conn, err := Connect(ctx, adminDSN, cfg.dial)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if err := endSessions(ctx, conn, src); err != nil {
		return err
	}
	_, err = conn.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{dst}.Sanitize()+" TEMPLATE "+pgx.Identifier{src}.Sanitize())
	if err != nil {
		return fmt.Errorf("copy database %s to %s: %w", src, dst, err)
	}
	return nil
}
