# tunstack — `make help` lists the targets.
GO      ?= go
BIN     := bin/tunstack
# Privileged tests (TUN devices, network namespaces) need root. As a normal
# user the test binaries are built by you and run through sudo.
ifeq ($(shell id -u),0)
  PRIV_EXEC :=
else
  PRIV_EXEC := -exec sudo
endif
UNIT_PKGS := ./segment/... ./timers/... ./stack/... ./cmd/...
PRIV_PKGS := ./tun/... ./integration/...
FUZZTIME ?= 10s

.PHONY: help build test test-unit test-integration test-container bench fuzz lint serve simtable wan clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## build bin/tunstack
	$(GO) build -o $(BIN) ./cmd/tunstack

test: lint test-unit test-integration test-container ## everything: lint, unit tests, integration tests (as root, via sudo if needed), then the privileged tests again in a container

test-unit: ## unit tests under the race detector (no privileges needed)
	$(GO) test -race -count=1 $(UNIT_PKGS)

test-integration: ## TUN + kernel-peer tests, each in a network namespace it creates (root)
	$(GO) test -race -count=1 -timeout 20m $(PRIV_EXEC) $(PRIV_PKGS)

test-container: ## tun + integration tests in a privileged podman container built FROM scratch (root; apt-get install podman runc; skipped without them, fails under CI=true)
	bash integration/container.sh

bench: ## hot-path benchmarks with allocation counts
	$(GO) test -run '^$$' -bench . -benchmem ./segment/... ./timers/... ./stack/...

fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -e; for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg; \
	  done; done

lint: ## gofmt check and go vet
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt needed on:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...

wan: build ## upload/download of tunstack, the kernel and gVisor through ../shared/bench's emulated WAN paths (root; ~20 min; scripts/wan-compare.sh)
	bash scripts/wan-compare.sh --readme README.md

simtable: ## regenerate docs/simtable.md and the README's table: goodput of two engines on simulated lossy paths (stack/tcp/internal/netsim; 30-60 s on 2 cores)
	$(GO) run ./stack/tcp/internal/netsim/cmd/simtable -o docs/simtable.md -readme README.md

serve: build ## the quick start: create a TUN, serve echo/discard/chargen/http on 198.18.0.2 and 2001:2::2 (root)
	@if [ "$$(id -u)" = 0 ]; then ./$(BIN) serve; else sudo ./$(BIN) serve; fi

clean: ## remove build output
	rm -rf bin
