# Lookout: the two commands a newcomer needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/lookout
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
LDFLAGS := -s -w -X main.version=$(VERSION) -X main.commit=$(COMMIT)
# Build tags for every go command of the Makefile (build, vet, test, the benchmarks'
# binaries, govulncheck): the Prometheus receiver's service discoveries are Kubernetes and DNS
# (file, HTTP and static are always in); the cloud ones (EC2, Azure, GCE and some twenty more)
# would add 60 modules, 27 MB of binary and 8 MB of idle memory (docs/versions.md).
GOTAGS  := remove_all_sd,enable_kubernetes_sd,enable_dns_sd
export GOFLAGS := $(shell $(GO) env GOFLAGS) -tags=$(GOTAGS)
# The Go toolchain of every go command of the Makefile: go1.27.3, which the go command fetches
# from the module proxy (76 MB, once per machine). go.mod still says 1.26.8, so that the code
# builds with that release too, but go1.26.8's standard library has known vulnerabilities that
# the shipped binary calls (crypto/tls, crypto/x509, net/http: docs/security.md).
export GOTOOLCHAIN := go1.27.3

.PHONY: build run test tools generate

## build: the lookout binary, into bin/lookout
build:
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/lookout

## run: build, then run the agent with its built-in local config (Ctrl-C stops it)
run: build
	./deploy/local/run.sh

## tools: install the real backends and tools the tests use (idempotent)
tools:
	./deploy/local/install.sh all

## test: vet, then every test against the binary built once (the built-in configs are
## validated by cmd/lookout's TestValidateBuiltinConfigs), then every Fuzz target for a short
## fixed time (make fuzz) and govulncheck against an offline database (make vulncheck)
test: build tools
	$(GO) vet ./...
	LOOKOUT_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 30m ./...
	./internal/tools/fuzz.sh
	./internal/tools/govulncheck.sh

## generate: regenerate every generated file (components, README table, dashboards, alerts)
generate:
	$(GO) generate ./...

.PHONY: e2e stack

## e2e: the end-to-end test alone (test/e2e): the real backends, the demo and the agent, through
## deploy/local/run.sh on free loopback ports; `make test` runs it too
e2e: build tools
	LOOKOUT_BIN=$(abspath $(BIN)) $(GO) test -count=1 -timeout 15m -v ./test/e2e/

## stack: start the local backends alone (deploy/local/stack.sh; `deploy/local/stack.sh stop` stops them)
stack: tools
	./deploy/local/stack.sh start

.PHONY: bench bench-quick

## bench: Lookout and the same pipeline built from upstream components (bench/cmd/upstream) on the
## same workloads, side by side (about 37 minutes; run it on a quiet machine: see uptime); prints
## the table and writes it into docs/benchmarks.md
bench: build
	$(GO) run ./bench/cmd/bench -lookout $(abspath $(BIN)) -commit $(COMMIT) -out docs/benchmarks.md

## bench-quick: the small scenarios (under 2 minutes), to catch breakage, not to judge speed;
## `make test` runs them too (bench.TestQuick)
bench-quick: build
	LOOKOUT_BIN=$(abspath $(BIN)) $(GO) test -count=1 -run TestQuick -v ./bench/

.PHONY: fault-full

## fault-full: the fault suite (test/fault) at full size: 10-minute outages, 3-minute storm phases,
## 5 minutes at 10x the load (about an hour; run it on a quiet machine); writes the `full` section
## of docs/reliability.md (the CI-sized suite runs in `make test`)
fault-full: build tools
	LOOKOUT_BIN=$(abspath $(BIN)) LOOKOUT_FAULT_FULL=1 LOOKOUT_RELIABILITY_WRITE=1 $(GO) test -count=1 -timeout 3h -v ./test/fault/

.PHONY: fuzz vulncheck

## fuzz: every Fuzz* target of the module, one after the other, sharing FUZZ_BUDGET seconds (default
## 60; FUZZTIME=30s sets each one's time instead): internal/tools/fuzz.sh; a failing input is
## left in the package's testdata/fuzz/<Target>/ (docs/security.md)
fuzz:
	./internal/tools/fuzz.sh

## vulncheck: govulncheck on ./... against the Go vulnerability database built offline from the
## golang.org/x/vulndb module (internal/tools/govulncheck.sh; about 5 minutes and 17 GB: docs/security.md)
vulncheck:
	./internal/tools/govulncheck.sh
