// Package bench holds the benchmarks of issue 2, which compare cleanroom with
// the plain way of doing the same thing on the same engine, side by side in
// one run: a clean PostgreSQL database per test (fresh container, template
// clone, the clone pool), an exec round trip (cleanroom against the raw
// engine API), removing an environment (Env.Close against testcontainers'
// Terminate) and starting one (parallel against one service after another).
//
// The package has no code of its own; the benchmarks are in bench_test.go and
// their results, with the command that produced them, in docs/benchmarks.md.
// They need a Docker engine and the fixture images of scripts/.
package bench
