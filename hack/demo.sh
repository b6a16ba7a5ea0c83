#!/usr/bin/env bash
# make demo: a five-node Axon Server cluster in a real Kubernetes control plane (the
# sandbox), kubectl axon run against it as a user would, then torn down.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-bin}
DIR=${DEMO_DIR:-.sandbox/demo}
TOPOLOGY=${DEMO_TOPOLOGY:-examples/topologies/demo.yaml}
NEW_IMAGE=${DEMO_IMAGE:-axoniq/axonserver:2024.2.0-nonroot}

export PATH="$PWD/$BIN:$PATH" KUBECONFIG="$PWD/$DIR/kubeconfig"
say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }
cleanup() { echo; "$BIN/axon-sandbox" down --dir "$DIR" || true; }
trap cleanup EXIT INT TERM

"$BIN/axon-sandbox" up --topology "$TOPOLOGY" --dir "$DIR"
run kubectl get statefulsets,pods -n axon -o wide
run kubectl axon status -n axon
if kubectl axon upgrade --help >/dev/null 2>&1; then
	run kubectl axon upgrade -n axon --image "$NEW_IMAGE"
	run kubectl axon status -n axon
	say "grep -c quorum-lost $DIR/audit.jsonl"
	grep -c '"quorum-lost"' "$DIR/audit.jsonl" || true
fi
say "kubectl axon status -n axon --exit-code >/dev/null; echo \$?"
kubectl axon status -n axon --exit-code >/dev/null; echo $?
