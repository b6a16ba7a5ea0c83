# mk/bench.mk - sandbox benchmarks and the chaos suite (included by the root Makefile).
#
#   make bench-sandbox   status against kubectl get, API requests and memory per
#                        call; rolling upgrade and replace-node --all against a
#                        plain runbook; leader elections; backup (full, --since)
#                        and restore throughput against a plain kubectl exec tar.
#                        Writes docs/benchmarks.md, docs/benchmarks-*.svg (about
#                        20 min on 2 cores; root). BENCH_FLAGS=-quick for a smoke
#                        run, -only status|rolling|backup (one section, about 5 min
#                        for backup; the file's other sections are kept).
#   make chaos           the randomized reliability suite: N runs (default 3) from
#                        seed SEED (default 1), PARALLEL sandboxes at once; run i
#                        uses seed SEED+i and a failure prints the seed to replay
#                        it (make chaos SEED=s N=1). make chaos N=200 is the long one.
#   make chaos-ci        the fixed slice CI runs: the seeds of test/chaos's ciSeeds,
#                        which draw every operation and every fault, at most 2
#                        operations each (about 10 minutes).
#
# Both need root (the sandbox) and build what they drive: kubectl-axon,
# axon-sandbox and the upstream binaries (sandbox-bins, cached).

BIN ?= bin
GO ?= go
N ?= 3
SEED ?= 1
CHAOS_OPS ?= 3
PARALLEL ?= 3
BENCH_FLAGS ?=
BENCH_LIMIT ?= 45m

.PHONY: bench-sandbox chaos chaos-ci

## bench-sandbox: sandbox benchmarks into docs/benchmarks.md (root; ~20 min; BENCH_FLAGS=-quick, -only backup)
bench-sandbox: build sandbox-bins axon-sandbox
	$(GO) run ./test/bench -bin $(abspath $(BIN)) -limit $(BENCH_LIMIT) $(BENCH_FLAGS)

# The per-run limit bounds one sandbox; the test timeout bounds them all
# (about 4 min a run, plus room).
## chaos: randomized fault-injection suite (root); N=runs SEED=base seed, e.g. make chaos N=200
chaos: build sandbox-bins axon-sandbox
	$(GO) test -tags chaos -count=1 -v -timeout $$(( ($(N) + $(PARALLEL) - 1) / $(PARALLEL) * 15 + 10 ))m ./test/chaos \
		-chaos.bin $(abspath $(BIN)) -chaos.seed $(SEED) -chaos.runs $(N) -chaos.ops $(CHAOS_OPS) \
		-chaos.parallel $(PARALLEL)

## chaos-ci: the fixed chaos slice CI runs: seeds chosen to draw every operation and fault (docs/chaos.md)
chaos-ci: build sandbox-bins axon-sandbox
	$(GO) test -tags chaos -count=1 -v -timeout 30m ./test/chaos \
		-chaos.bin $(abspath $(BIN)) -chaos.seeds ci -chaos.ops 2 -chaos.run-limit 12m -chaos.parallel $(PARALLEL)
