# mk/sandbox.mk - the Kubernetes sandbox (included by the root Makefile).
#
#   make sandbox-bins   etcd, kube-apiserver, kube-controller-manager,
#                       kube-scheduler and kubectl, built from the Go module
#                       proxy in the test/sandbox/k8s module (k8s.io/kubernetes
#                       $(K8S_VERSION)); cold build ~10 min on 2 cores, then cached
#   make axon-sandbox   $(BIN)/axon-sandbox (up/down/exec of a sandbox)
#   make e2e            the end-to-end suite in test/e2e against sandboxes
#
# Every binary is built with `go build -o`: Go compares the build ID of the
# existing file with what it would build and leaves an up-to-date binary alone,
# so running these targets again costs seconds.

BIN ?= bin
GO ?= go
E2E_TIMEOUT ?= 60m
E2E_RUN ?=
E2E_FLAGS ?=

SANDBOX_MOD := test/sandbox
# the upstream binaries come from a module of their own, which does not see the
# root module's dependencies: changes there never rebuild Kubernetes
SANDBOX_K8S_MOD := test/sandbox/k8s
# -mod=mod: the sandbox module requires the root module (replace ../..); when
# the root module gains a dependency, Go records it here instead of failing.
SANDBOX_GOFLAGS := -mod=mod
K8S_VERSION := v1.37.2
SANDBOX_BIN_ABS := $(abspath $(BIN))
K8S_LDFLAGS := -s -w \
	-X k8s.io/component-base/version.gitVersion=$(K8S_VERSION) \
	-X k8s.io/component-base/version.gitMajor=1 \
	-X k8s.io/component-base/version.gitMinor=37 \
	-X k8s.io/component-base/version.gitTreeState=clean

# name:package pairs, built in this order (kube-apiserver first: it is the
# biggest and warms the build cache for the others).
SANDBOX_BIN_PKGS := \
	kube-apiserver:k8s.io/kubernetes/cmd/kube-apiserver \
	etcd:go.etcd.io/etcd/server/v3 \
	kube-controller-manager:k8s.io/kubernetes/cmd/kube-controller-manager \
	kube-scheduler:k8s.io/kubernetes/cmd/kube-scheduler \
	kubectl:k8s.io/kubernetes/cmd/kubectl

.PHONY: sandbox-bins axon-sandbox sandbox-test e2e sandbox-clean-bins

## sandbox-bins: etcd, kube-apiserver, kube-controller-manager, kube-scheduler, kubectl (k8s v1.37.2, cached)
sandbox-bins:
	@mkdir -p $(BIN)
	@set -e; for pair in $(SANDBOX_BIN_PKGS); do \
		name=$${pair%%:*}; pkg=$${pair#*:}; \
		start=$$(date +%s); \
		echo "sandbox-bins: building $(BIN)/$$name from $$pkg (cached builds take seconds, a cold one minutes)"; \
		( trap 'kill $$s 2>/dev/null; exit 0' TERM; while :; do sleep 30 & s=$$!; wait $$s; \
		  echo "sandbox-bins:   still building $$name ($$(( $$(date +%s) - start ))s)"; done ) & ticker=$$!; \
		rc=0; (cd $(SANDBOX_K8S_MOD) && $(GO) build -ldflags "$(K8S_LDFLAGS)" -o $(SANDBOX_BIN_ABS)/$$name $$pkg) || rc=$$?; \
		kill $$ticker 2>/dev/null; wait $$ticker 2>/dev/null || true; \
		if [ $$rc -ne 0 ]; then echo "sandbox-bins: building $$name failed"; exit $$rc; fi; \
		echo "sandbox-bins: $(BIN)/$$name ready in $$(( $$(date +%s) - start ))s"; \
	done

## axon-sandbox: bin/axon-sandbox (up --topology FILE --dir DIR | down --dir DIR | exec --dir DIR -- CMD)
axon-sandbox:
	@mkdir -p $(BIN)
	@echo "axon-sandbox: building $(BIN)/axon-sandbox"
	@cd $(SANDBOX_MOD) && $(GO) build $(SANDBOX_GOFLAGS) -o $(SANDBOX_BIN_ABS)/axon-sandbox ./cmd/axon-sandbox

# The e2e suite needs the upstream binaries, axon-sandbox and kubectl-axon in
# $(BIN) (`build` is the root Makefile's); run alone (go test -tags e2e) it
# builds kubectl-axon and axon-sandbox itself.
## e2e: end-to-end tests of kubectl axon against sandboxes (needs root); E2E_RUN=regexp to select
e2e: build sandbox-bins axon-sandbox sandbox-test
	@echo "e2e: go test -tags e2e ./test/e2e/... (timeout $(E2E_TIMEOUT))"
	AXON_E2E_BIN=$(SANDBOX_BIN_ABS) AXON_E2E_BUILT=1 $(GO) test -tags e2e -count=1 -timeout $(E2E_TIMEOUT) -v $(if $(E2E_RUN),-run '$(E2E_RUN)') $(E2E_FLAGS) ./test/e2e/...

## sandbox-test: unit tests of the sandbox module (test/sandbox)
sandbox-test:
	cd $(SANDBOX_MOD) && $(GO) vet $(SANDBOX_GOFLAGS) ./... && $(GO) test $(SANDBOX_GOFLAGS) -count=1 ./...

sandbox-clean-bins:
	rm -f $(addprefix $(BIN)/,etcd kube-apiserver kube-controller-manager kube-scheduler kubectl axon-sandbox)
