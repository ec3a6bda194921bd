# cleanroom's build. `make test` is what CI runs (.ci/run): it makes sure a
# Docker engine answers and the fixture images exist, then vets and runs
# every test against the real engine.

GO ?= go
export PATH := /usr/local/go/bin:$(PATH)
# This machine has /.dockerenv, so testcontainers-go would dial the default
# gateway; published ports are on loopback here.
export TESTCONTAINERS_HOST_OVERRIDE := 127.0.0.1
export TESTCONTAINERS_RYUK_DISABLED := true

.PHONY: all build setup engine browser local-deps rootless-user test vet fmt-check unit bench bench-run leaks clean

all: build

build:
	$(GO) build -o bin/cleanroom ./cmd/cleanroom

engine:
	bash scripts/docker-up.sh
	bash scripts/fixture-images.sh

# What the README's main command needs: the local backend's programs, and a
# Docker engine with the fixture images where one can run. Without an
# engine, `cleanroom run` picks the local backend and says why.
setup: local-deps
	@if bash scripts/docker-up.sh; then bash scripts/fixture-images.sh; \
	else echo "setup: no Docker engine could start here; cleanroom run will use the local backend"; fi

# Headless Chromium for the tests that open the HTML report in a browser.
browser:
	bash scripts/browser.sh

# The host programs the local backend's tests run: busybox, PostgreSQL,
# redis-server, setpriv, newuidmap.
local-deps:
	bash scripts/local-deps.sh

# The user that the rootless tests run the local backend as, with
# subordinate ids (after local-deps, which installs newuidmap).
rootless-user: local-deps
	bash scripts/rootless-user.sh

vet:
	$(GO) vet ./...

fmt-check:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: engine browser local-deps rootless-user vet fmt-check
	bash scripts/ctrf-schema.sh
	$(GO) test -race -count=1 -timeout 15m ./...
	bash scripts/check-leaks.sh

# Pure-logic tests only: no engine needed.
unit:
	$(GO) test -count=1 -short ./...

# Benchmarks of docs/benchmarks.md: all of them take 10 to 15 minutes on 2
# cores; bench-run only those of `cleanroom run` (about 5 minutes).
bench: engine
	$(GO) test -run '^$$' -bench . -benchtime 4x -count 1 -timeout 40m ./bench/

bench-run: engine
	$(GO) test -run '^$$' -bench 'Benchmark(Run|Reset)' -benchtime 4x -count 1 -timeout 30m ./bench/

leaks:
	bash scripts/check-leaks.sh

clean:
	rm -rf bin
