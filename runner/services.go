package runner

import (
	"context"
	"fmt"
	"maps"
	"time"

	"github.com/cleanroomhq/cleanroom/backend"
	"github.com/cleanroomhq/cleanroom/policy"
	"github.com/cleanroomhq/cleanroom/ready"
	"github.com/cleanroomhq/cleanroom/report"
	"github.com/cleanroomhq/cleanroom/service"
	"github.com/cleanroomhq/cleanroom/service/generic"
	"github.com/cleanroomhq/cleanroom/service/postgres"
	"github.com/cleanroomhq/cleanroom/service/redis"
	"github.com/cleanroomhq/cleanroom/suite"
)

// running is a started service of a suite with what the runner needs to
// reset it between scenarios.
type running struct {
	decl *suite.Service
	spec service.Spec
	inst *service.Instance
	rep  *report.Service

	pg    *pgState
	redis *redis.DBs
	// failures counts restarts after the service failed (on-failure).
	failures int
	// coverHost is the folder of this machine that holds a coverage
	// service's counters ("" when it has no coverage).
	coverHost string
	// health re-checks a running generic service before each scenario:
	// its wait checks that ask the service (port, http, exec), not a log
	// line, which stays matched after the service stops answering. nil:
	// none (PostgreSQL and Redis answer their reset instead).
	health ready.Check
}

// pgState resets a PostgreSQL database in place: the database the service
// declared (say "app") is swapped for a clone of "app_cleanroom_template",
// taken right after init SQL, so whatever connects to "app" by name sees the
// clean state.
type pgState struct {
	database string
	cloner   *postgres.Cloner
}

// startServices starts the suite's services group by group: a group's
// templates may refer to the groups before it, which are running by then.
func (sr *suiteRun) startServices(ctx context.Context) error {
	for _, group := range sr.suite.StartOrder() {
		specs := make([]service.Spec, len(group))
		for i, decl := range group {
			spec, err := sr.specFor(ctx, decl)
			if err != nil {
				return err
			}
			specs[i] = spec
		}
		insts, err := sr.env.Start(ctx, specs...)
		if err != nil {
			return err
		}
		for i, decl := range group {
			in := insts[i]
			pol := in.Policy
			health, err := healthCheck(decl, sr.templateData(nil, sr.seed))
			if err != nil {
				return fmt.Errorf("service %s: %w", decl.Name, err)
			}
			r := &running{decl: decl, spec: specs[i], inst: in, health: health, coverHost: specs[i].Binds[coverDir], rep: &report.Service{
				Name: decl.Name, Kind: decl.Kind.Value, Image: in.Image, Address: in.Address,
				Started: in.StartedAt, ReadyMS: ms(in.ReadyAfter), Policy: &pol,
			}}
			sr.audit(decl.Name, "service", in.Image, pol)
			if err := sr.prepareReset(ctx, r); err != nil {
				return fmt.Errorf("service %s: %w", decl.Name, err)
			}
			if st, err := in.Container.State(ctx); err == nil {
				r.rep.ImageID = st.ImageID
			}
			sr.services[decl.Name] = r
			serviceSpan(ctx, sr.opts.tracer(), decl, r)
			sr.rep.Services = append(sr.rep.Services, r.rep)
			sr.obs.ServiceReady(sr.rep, r.rep)
		}
	}
	return nil
}

// specFor renders a declared service into a spec. Its templates see the
// services started so far (its dependencies).
func (sr *suiteRun) specFor(ctx context.Context, decl *suite.Service) (service.Spec, error) {
	data := sr.templateData(nil, sr.seed)
	fail := func(err error) (service.Spec, error) {
		return service.Spec{}, fmt.Errorf("service %s: %w", decl.Name, err)
	}
	env, err := suite.RenderMap(decl.Env, data)
	if err != nil {
		return fail(err)
	}
	var spec service.Spec
	switch decl.Kind.Value {
	case suite.KindPostgres:
		opts := []postgres.Option{postgres.WithEnv(env)}
		if decl.Image.Value != "" {
			opts = append(opts, postgres.WithImage(decl.Image.Value))
		}
		if decl.Database.Value != "" {
			opts = append(opts, postgres.WithDatabase(decl.Database.Value))
		}
		if decl.User.Value != "" {
			opts = append(opts, postgres.WithUser(decl.User.Value))
		}
		if decl.Password.Value != "" {
			opts = append(opts, postgres.WithPassword(decl.Password.Value))
		}
		stmts, err := suite.RenderAll(decl.InitSQL, data)
		if err != nil {
			return fail(err)
		}
		opts = append(opts, postgres.WithInitSQL(stmts...))
		for _, f := range decl.InitFiles {
			opts = append(opts, postgres.WithInitFiles(f.Abs))
		}
		spec = postgres.Spec(decl.Name, opts...)
	case suite.KindRedis:
		var opts []redis.Option
		if decl.Image.Value != "" {
			opts = append(opts, redis.WithImage(decl.Image.Value))
		}
		spec = redis.Spec(decl.Name, opts...)
		if len(env) > 0 {
			if spec.Env == nil {
				spec.Env = map[string]string{}
			}
			maps.Copy(spec.Env, env)
		}
	default:
		cmd, err := suite.RenderAll(decl.Command, data)
		if err != nil {
			return fail(err)
		}
		entry, err := suite.RenderAll(decl.Entrypoint, data)
		if err != nil {
			return fail(err)
		}
		opts := []generic.Option{generic.WithEnv(env), generic.WithPorts(decl.Ports.Value...)}
		if len(cmd) > 0 {
			opts = append(opts, generic.WithCommand(cmd...))
		}
		if len(entry) > 0 {
			opts = append(opts, generic.WithEntrypoint(entry...))
		}
		for _, f := range decl.Files {
			opts = append(opts, generic.WithFiles(backend.File{Path: f.Dest, HostPath: f.Source.Abs}))
		}
		if decl.Wait != nil {
			checks, err := waitChecks(decl, data, true)
			if err != nil {
				return fail(err)
			}
			opts = append(opts, generic.WithReady(checks...))
		}
		if b := decl.Build; b != nil {
			// The environment builds it when the service starts, once
			// per suite file, even for a per-scenario restart.
			opts = append(opts, generic.WithBuild(service.Build{
				Context: b.Context.Abs, Dockerfile: b.Dockerfile.Value, Args: b.Args, Keep: b.Keep.Value,
			}))
		}
		spec = generic.Spec(decl.Name, decl.Image.Value, opts...)
	}
	for _, d := range decl.DependsOn {
		spec.DependsOn = append(spec.DependsOn, d.Value)
	}
	spec.Env = sr.otelEnv(traceEnv(ctx, containerEnv(spec.Env, sr.seed, sr.suite.FreezeTime.Value)), decl.Name)
	if decl.Coverage.Value {
		host, err := sr.coverageMount(decl)
		if err != nil {
			return fail(fmt.Errorf("coverage folder: %w", err))
		}
		spec.Binds = map[string]string{coverDir: host}
		spec.Env["GOCOVERDIR"] = coverDir
	}
	spec.Policy = sr.pol.services[decl.Name].Policy
	sr.shared.secrets.learn(spec.Env)
	return spec, nil
}

// healthCheck is a generic service's wait table without its log check,
// or nil when nothing else is left.
func healthCheck(decl *suite.Service, data map[string]any) (ready.Check, error) {
	if decl.Kind.Value != suite.KindGeneric || decl.Wait == nil {
		return nil, nil
	}
	checks, err := waitChecks(decl, data, false)
	if err != nil || len(checks) == 0 {
		return nil, err
	}
	return ready.All(checks...), nil
}

// waitChecks turns a wait table into readiness checks; all must pass. The
// log check is left out unless withLog.
func waitChecks(decl *suite.Service, data map[string]any, withLog bool) ([]ready.Check, error) {
	w := decl.Wait
	timeout := ready.WithTimeout(w.Timeout.Value)
	if !w.Timeout.IsSet() {
		timeout = ready.WithTimeout(suite.DefaultWaitTimeout)
	}
	port := w.Port.Value
	if port == 0 {
		port = decl.PrimaryPort()
	}
	var checks []ready.Check
	switch {
	case w.HTTP.IsSet():
		status := w.Status.Value
		if !w.Status.IsSet() {
			status = 200
		}
		checks = append(checks, ready.HTTP(port, w.HTTP.Value, status, timeout))
	case w.Port.IsSet():
		checks = append(checks, ready.Port(port, timeout))
	}
	if w.Log.IsSet() && withLog {
		checks = append(checks, ready.Log(w.Log.Value.String(), 1, timeout))
	}
	if len(w.Exec) > 0 {
		argv, err := suite.RenderAll(w.Exec, data)
		if err != nil {
			return nil, err
		}
		checks = append(checks, ready.Exec(argv, timeout))
	}
	return checks, nil
}

// prepareReset readies a service for clean state per scenario: for
// PostgreSQL it takes the template right after init SQL (before any
// dependent service can connect and write), for Redis it opens the client
// that flushes.
func (sr *suiteRun) prepareReset(ctx context.Context, r *running) error {
	switch r.decl.Kind.Value {
	case suite.KindPostgres:
		db := r.spec.Env["POSTGRES_DB"]
		admin := postgres.WithDatabaseName(r.inst.URL, "postgres")
		template := db + "_cleanroom_template"
		dial := postgres.WithDialer(r.inst.DialContext)
		if err := postgres.CopyDatabase(ctx, admin, db, template, dial); err != nil {
			return err
		}
		cl, err := postgres.NewCloner(ctx, admin, template, postgres.WithAhead(2), postgres.WithWorkers(1), dial)
		if err != nil {
			return err
		}
		r.pg = &pgState{database: db, cloner: cl}
	case suite.KindRedis:
		r.redis = redis.NewDBs(fmt.Sprintf("%s:%d", r.inst.Host, r.inst.Port), r.inst.DialContext)
	}
	return nil
}

// reset restores every service's clean state before a scenario, after
// bringing back those that failed (see recoverServices).
func (sr *suiteRun) reset(ctx context.Context) error {
	if err := sr.recoverServices(ctx); err != nil {
		return err
	}
	for _, decl := range sr.suite.Services {
		r := sr.services[decl.Name]
		switch {
		case r.pg != nil:
			if err := r.pg.cloner.SwapIn(ctx, r.pg.database); err != nil {
				return fmt.Errorf("reset %s: %w", decl.Name, err)
			}
		case r.redis != nil:
			if err := r.redis.FlushAll(ctx); err != nil {
				return fmt.Errorf("reset %s: %w", decl.Name, err)
			}
		case decl.Restart.Value == suite.RestartPerScenario:
			if err := sr.restart(ctx, r); err != nil {
				return fmt.Errorf("restart %s: %w", decl.Name, err)
			}
		}
	}
	return nil
}

// restart replaces a per-scenario generic service with a fresh container
// of the same spec and name.
func (sr *suiteRun) restart(ctx context.Context, r *running) error {
	if err := sr.env.Release(ctx, r.spec.Name); err != nil {
		return err
	}
	insts, err := sr.env.Start(ctx, r.spec)
	if err != nil {
		return err
	}
	r.inst = insts[0]
	r.rep.Restarts++
	sr.norm = nil // its container ID and address changed
	sr.audit(r.decl.Name, "service", r.inst.Image, r.inst.Policy)
	return nil
}

// audit records a container's effective policy in the audit log.
func (sr *suiteRun) audit(name, kind, image string, p policy.Policy) {
	sr.shared.audit.write(AuditRecord{
		Time: time.Now().UTC(), Suite: sr.suite.Name.Value, File: sr.suite.File, Session: sr.env.ID(),
		Container: name, Kind: kind, Image: image, Policy: p,
	})
}

func (sr *suiteRun) closeServices(ctx context.Context) {
	for _, r := range sr.services {
		if r.pg != nil {
			_ = r.pg.cloner.Close(ctx)
		}
		if r.redis != nil {
			_ = r.redis.Close()
		}
	}
}
