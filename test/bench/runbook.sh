#!/usr/bin/env bash
# The plain runbook kubectl axon is measured against: what an operator without
# the plugin scripts for a rolling change of singleton StatefulSets. One
# StatefulSet at a time in name order: change it (set image, or delete the pod),
# `kubectl rollout status`, then poll Axon Server's health through the API
# server's pod proxy, sleeping between polls, until it says UP.
#
#   runbook.sh upgrade NAMESPACE IMAGE
#   runbook.sh replace NAMESPACE
#
# Uses KUBECONFIG and kubectl from PATH. POLL (default 5 s) is the sleep.
set -euo pipefail
mode=$1 ns=$2 image=${3:-}
poll=${POLL:-5}
deadline_per_node=${NODE_TIMEOUT:-300}

healthy() { # $1 pod: Axon Server's own health says UP
	kubectl get --raw "/api/v1/namespaces/$ns/pods/$1:8024/proxy/actuator/health" 2>/dev/null |
		tr -d ' \n' | grep -q '"status":"UP"}$'
}

for sts in $(kubectl -n "$ns" get statefulsets -l cluster -o name | sort -V); do
	name=${sts#statefulset.apps/}
	pod=$name-0
	case $mode in
	upgrade) kubectl -n "$ns" set image "$sts" "axonserver=$image" >/dev/null ;;
	replace)
		kubectl -n "$ns" delete pod "$pod" --wait=true >/dev/null
		;;
	*) echo "usage: $0 upgrade|replace NAMESPACE [IMAGE]" >&2; exit 2 ;;
	esac
	kubectl -n "$ns" rollout status "$sts" --timeout="${deadline_per_node}s" >/dev/null
	kubectl -n "$ns" wait --for=condition=Ready "pod/$pod" --timeout="${deadline_per_node}s" >/dev/null
	start=$(date +%s)
	until healthy "$pod"; do
		if (( $(date +%s) - start > deadline_per_node )); then
			echo "runbook: $name not healthy after ${deadline_per_node}s" >&2
			exit 4
		fi
		sleep "$poll"
	done
	echo "runbook: $name done"
done
