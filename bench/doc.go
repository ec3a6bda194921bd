// Package bench holds cleanroom's benchmarks, which compare it with the
// plain way of doing the same thing on the same engine, side by side in one
// run.
//
// bench_test.go (the foundation): a clean PostgreSQL database per test
// (fresh container, template clone, the clone pool), an exec round trip
// (cleanroom against the raw engine API), removing an environment (Env.Close
// against testcontainers' Terminate) and starting one (parallel against one
// service after another).
//
// runner_bench_test.go (`cleanroom run`): an exec step's overhead, a
// 20-scenario PostgreSQL suite against a fresh container per scenario, the
// in-place reset against testcontainers' Restore, and the runner's peak
// memory on 500 steps.
//
// The package has no code of its own; the results, with the commands that
// produced them, are in docs/benchmarks.md. They need a Docker engine and the
// fixture images of scripts/ (make bench, make bench-run).
package bench
