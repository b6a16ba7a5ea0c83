package cmd

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// groupsOfThree is a topology of n nodes (n a multiple of 3): _admin on the first
// three, and one group per three consecutive nodes.
func groupsOfThree(n int) string {
	var b strings.Builder
	b.WriteString("name: axonserver\nnamespace: axon\nimage: axoniq/axonserver:2024.1.0-nonroot\nnodes:\n")
	for i := 1; i <= n; i++ {
		fmt.Fprintf(&b, "  - {name: axonserver-%d}\n", i)
	}
	b.WriteString("replicationGroups:\n  - {name: _admin, contexts: [_admin], roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}}\n")
	for i := 1; i+2 <= n; i += 3 {
		fmt.Fprintf(&b, "  - {name: g%d, contexts: [c%d], roles: {axonserver-%d: PRIMARY, axonserver-%d: PRIMARY, axonserver-%d: PRIMARY}}\n", i, i, i, i+1, i+2)
	}
	b.WriteString("timing: {startupSeconds: 0.3, shutdownSeconds: 0.05, catchUpSeconds: 0.5, electionTimeoutMillis: 300}\n")
	return b.String()
}

// TestRollingStepCostDoesNotGrow: while a rolling step waits for its node, the
// plugin asks Axon Server about that node and the leaders of its groups only; a
// node that shares no group with it (and is not an admin node, which gives the
// cluster-wide views) is asked about once per step, in the look at the whole
// cluster that ends it, however long the wait. So the requests of a step do not
// grow with the cluster beyond that one look. Measured at two sizes.
func TestRollingStepCostDoesNotGrow(t *testing.T) {
	for _, size := range []int{6, 12} {
		t.Run(fmt.Sprintf("%d nodes", size), func(t *testing.T) {
			topo, err := axonsim.ParseTopology([]byte(groupsOfThree(size)))
			if err != nil {
				t.Fatal(err)
			}
			type request struct {
				node string
				at   time.Time
			}
			var mu sync.Mutex
			var reqs []request
			w := newWorldWith(t, topo, axonsim.Options{OnRequest: func(node, method, path string) {
				mu.Lock()
				reqs = append(reqs, request{node, time.Now()})
				mu.Unlock()
			}})
			w.onDelete(t)
			w.waitStatusHealthy(t)
			code, out, errOut := w.run(t, "upgrade", "--image", newImage, "-o", "json", "--node-timeout", "2m", "--poll-interval", "20ms")
			if code != 0 {
				t.Fatalf("exit %d\nstderr: %s", code, errOut)
			}
			mu.Lock()
			defer mu.Unlock()
			groupOf := func(n string) int { // the index of n's group of three
				var i int
				fmt.Sscanf(n, "axonserver-%d", &i)
				return (i - 1) / 3
			}
			var started time.Time
			var node string
			for _, e := range jsonEvents(t, out) {
				at, _ := time.Parse(time.RFC3339Nano, fmt.Sprint(e["time"]))
				switch e["event"] {
				case "step-started":
					started, node = at, fmt.Sprint(e["node"])
				case "step-finished":
					perNode, focus, all := map[string]int{}, 0, 0
					for _, r := range reqs {
						if r.at.Before(started) || r.at.After(at) {
							continue
						}
						all++
						if groupOf(r.node) == groupOf(node) || groupOf(r.node) == 0 {
							focus++
							continue
						}
						perNode[r.node]++
					}
					for n, c := range perNode {
						// One look asks a node 3 to 5 questions; allow three looks.
						if c > 15 {
							t.Errorf("step %s: %s, which shares no group with it, was asked %d times", node, n, c)
						}
					}
					t.Logf("step %s (%s): %d requests, %d to its groups and the admin nodes", node, at.Sub(started).Round(time.Millisecond), all, focus)
				}
			}
		})
	}
}
