# kubectl axon — build, test, and everything around them.
# `make help` lists the targets.

GO      ?= go
BIN     ?= bin
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null | sed 's/^\([^v]\)/v0.0.0-\1/' || echo v0.0.0-dev)
COMMIT  ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo unknown)
PKG     := github.com/kubectl-axon/kubectl-axon
LDFLAGS := -X $(PKG)/pkg/version.Version=$(VERSION) -X $(PKG)/pkg/version.Commit=$(COMMIT) -X $(PKG)/pkg/axonserver.Version=$(VERSION)

.PHONY: all build test lint check demo docs bench bench-go install clean help
all: build

## build: the plugin (built as hack/dist.sh builds the releases: static, stripped) and the simulator, into bin/
build:
	@mkdir -p $(BIN)
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "-s -w $(LDFLAGS)" -o $(BIN)/kubectl-axon ./cmd/kubectl-axon
	$(GO) build -o $(BIN)/axonsim ./test/axonsim/cmd/axonsim
	@printf '#!/usr/bin/env sh\nexec kubectl axon __complete "$$@"\n' > $(BIN)/kubectl_complete-axon && chmod +x $(BIN)/kubectl_complete-axon

## test: unit tests of the root module, race detector on
test:
	$(GO) test -race -count=1 ./...

## lint: go vet and gofmt
lint:
	$(GO) vet ./...
	@out=$$(gofmt -l cmd pkg test plugins 2>/dev/null); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

## check: what CI runs: lint, unit tests, the end-to-end tests and the fixed-seed chaos slice on the sandbox
check: lint test e2e chaos-ci

## demo: a five-node cluster in the sandbox, kubectl axon run against it, torn down (needs root)
demo: build sandbox-bins axon-sandbox
	BIN=$(BIN) hack/demo.sh

## docs: regenerate docs/commands.md from the commands
docs:
	$(GO) run ./hack/gendocs

## bench: every figure: the Go benchmarks, then the sandbox's (docs/benchmarks.md; root, ~15 min)
bench: bench-go bench-sandbox

## bench-go: Go benchmarks of the plugin's pipelines (in-process, seconds)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./pkg/...

## install: kubectl-axon and kubectl_complete-axon into $(PREFIX)/bin (default ~/.local)
PREFIX ?= $(HOME)/.local
install: build
	install -d $(PREFIX)/bin
	install -m 0755 $(BIN)/kubectl-axon $(BIN)/kubectl_complete-axon $(PREFIX)/bin/

clean:
	rm -rf $(BIN) dist

help:
	@grep -h '^## ' $(MAKEFILE_LIST) | sed 's/^## /  /'

-include mk/*.mk
