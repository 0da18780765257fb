# Garo build, test and lint entry points. `make` alone lists the targets; CI runs `make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help

GO         ?= go
VERSION    ?= $(or $(shell git describe --tags --always --dirty 2>/dev/null),dev)
COMMIT     ?= $(or $(shell git rev-parse --short HEAD 2>/dev/null),unknown)
BUILD_DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
TEST_JSON  ?= .cache/test.json

VERSION_PKG := github.com/garo-dev/garo/shared/version
LDFLAGS     := -s -w \
	-X $(VERSION_PKG).Version=$(VERSION) \
	-X $(VERSION_PKG).Commit=$(COMMIT) \
	-X $(VERSION_PKG).BuildDate=$(BUILD_DATE)

# Binaries and the package each is built from.
BINARIES        := bin/garo-server bin/garo-agent bin/garoctl bin/garo-githubsim bin/garo-stub-runner
PKG_garo-server := ./server/cmd/garo-server
PKG_garo-agent  := ./agent/cmd/garo-agent
PKG_garoctl     := ./portal-api/cmd/garoctl
PKG_garo-githubsim := ./githubsim/cmd/garo-githubsim
PKG_garo-stub-runner := ./githubsim/cmd/garo-stub-runner

# golangci-lint as a Go tool of its own module (tools/golangci-lint/go.mod), so that its
# dependencies do not move the product's; built from the Go module proxy on first use.
GOLANGCI_LINT ?= $(GO) tool -modfile=tools/golangci-lint/go.mod golangci-lint

# The stub runner image (deployments/stub-runner/Dockerfile), FROM scratch: no pull needed.
STUB_IMAGE ?= garo-stub-runner:dev
DOCKER     ?= docker

.PHONY: help build test lint run demo images bench clean stub-image chaos fuzz docs FORCE

help: ## List the targets
	@awk 'BEGIN { FS = ":.*## " } /^[a-zA-Z_-]+:.*## / { printf "  %-10s %s\n", $$1, $$2 }' $(MAKEFILE_LIST)

build: $(BINARIES) ## Build static, version-stamped binaries into ./bin

# Always handed to go build, whose cache decides what is really out of date.
$(BINARIES): bin/%: FORCE
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $@ $(PKG_$*)

test: ## Run all tests with -race against SQLite and PostgreSQL (JSON log: .cache/test.json, or TEST_JSON=)
	@mkdir -p $(dir $(TEST_JSON))
	@status=0; \
	$(GO) tool gotestsum --format testname --jsonfile $(TEST_JSON) -- -race -count=1 ./... || status=$$?; \
	bash .ci/store-counts.sh $(TEST_JSON) || true; \
	grep -ohE 'figure: [^"\\]*' $(TEST_JSON) | sort -u || true; \
	exit $$status

docs: ## Regenerate docs/cli/ (garoctl's command reference) from the command tree
	$(GO) generate ./portal-api/garoctl

lint: ## go vet, gofmt, and golangci-lint (.golangci.yml; version pinned in tools/golangci-lint/go.mod)
	@status=0; \
	echo "$(GO) vet ./..."; $(GO) vet ./... || status=1; \
	out=$$(find . -name '*.go' -not -path './.git/*' -not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; status=1; fi; \
	echo "$(GOLANGCI_LINT) run"; $(GOLANGCI_LINT) run ./... || status=1; \
	exit $$status

run: bin/garo-server ## Build and run garo-server with deployments/garo-server.dev.yaml
	./bin/garo-server serve --config deployments/garo-server.dev.yaml

# The demo (internal/demo): DEMO_ARGS="--jobs 20 --max-runners 5 --work 3s" varies it;
# DEMO_ARGS=--keep leaves it running after the summary, to look around with garoctl.
DEMO_ARGS ?=

demo: bin/garo-stub-runner bin/garoctl ## Demo on the local Docker engine: server, simulator, agent, a burst of jobs, a summary
	@CGO_ENABLED=0 $(GO) build -trimpath -o bin/garo-demo ./internal/demo/cmd/garo-demo
	@./bin/garo-demo --stub-runner bin/garo-stub-runner $(DEMO_ARGS)

# The chaos suite (internal/chaos): CHAOS=small (CI, about 2 minutes), CHAOS=full
# (1,000 jobs, both replicas down for 60 s) or CHAOS=outage (the 60 s outage alone with
# capacity to spare; fails on a missed recovery target); CHAOS_ARGS="--jobs 200" varies it.
CHAOS      ?= small
CHAOS_ARGS ?=

chaos: bin/garo-server bin/garo-agent bin/garo-githubsim bin/garo-stub-runner ## Chaos suite: 2 replicas on PostgreSQL, simulator, agent on Docker, a fault schedule, a table (CHAOS=full: 1,000 jobs)
	@CGO_ENABLED=0 $(GO) build -trimpath -o bin/garo-chaos ./internal/chaos/cmd/garo-chaos
	@./bin/garo-chaos --schedule $(CHAOS) --bin bin $(CHAOS_ARGS)

# Go native fuzz targets, package:Target; `make test` runs their seed corpora, `make fuzz`
# fuzzes each for FUZZTIME (FUZZ_TARGETS= picks some).
FUZZTIME     ?= 10m
FUZZ_TARGETS ?= ./server/webhook:FuzzWebhook ./server/api:FuzzPortalWrites ./server/api:FuzzAgentProtocol \
	./portal-api:FuzzMergePatch ./server/config:FuzzLoad ./agent/app:FuzzLoad ./shared/spec:FuzzScheduleWindow

fuzz: ## Fuzz every target for FUZZTIME (default 10m each)
	@for t in $(FUZZ_TARGETS); do \
		pkg=$${t%%:*}; name=$${t##*:}; echo "fuzz: $$name in $$pkg for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	done

stub-image: bin/garo-stub-runner ## Build the stub runner image garo-stub-runner:dev (or STUB_IMAGE=) from scratch
	@mkdir -p .cache/stub-image && cp bin/garo-stub-runner .cache/stub-image/
	$(DOCKER) build --pull=false -t $(STUB_IMAGE) -f deployments/stub-runner/Dockerfile .cache/stub-image

# Container images (deployments/garo-server, deployments/garo-agent; docs/deployment.md).
IMAGE_TAG        ?= dev
# := so that both images get the same BUILD_DATE (BUILD_DATE ?= is re-evaluated on each use).
IMAGE_BUILD_ARGS := --build-arg VERSION=$(VERSION) --build-arg COMMIT=$(COMMIT) --build-arg BUILD_DATE=$(BUILD_DATE)

images: ## Build the images garo-server:dev and garo-agent:dev (or IMAGE_TAG=); pulls golang:1.26-bookworm once
	$(DOCKER) build -f deployments/garo-server/Dockerfile -t garo-server:$(IMAGE_TAG) $(IMAGE_BUILD_ARGS) .
	$(DOCKER) build -f deployments/garo-agent/Dockerfile -t garo-agent:$(IMAGE_TAG) $(IMAGE_BUILD_ARGS) .

# The bench (internal/load/bench, docs/performance.md): one table of every figure of issue 15
# from one run. BENCH=quick is the small variant CI runs; BENCH_ARGS="--duration 5m" for
# the targets' full window. `go test -run '^$$' -bench . ./...` still runs each benchmark.
BENCH      ?=
BENCH_ARGS ?=

bench: bin/garo-stub-runner ## One table of the figures of issue 15 vs. targets and peers (BENCH=quick: the CI variant)
	@CGO_ENABLED=0 $(GO) build -trimpath -o bin/garo-load ./internal/load/cmd/garo-load
	@./bin/garo-load bench $(if $(filter quick,$(BENCH)),--quick) --stub-runner bin/garo-stub-runner $(BENCH_ARGS)

clean: ## Remove ./bin and .cache
	rm -rf bin .cache

FORCE:
