package cmd

import (
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// BenchmarkStatusPipeline is `kubectl axon status -o json` end to end, in-process, on
// the large cluster: 9 nodes, 300 replication groups, 1,000 contexts, every
// node an axonsim listener on loopback. It counts the whole pipeline: discovery (fake
// API server: 3 list calls and a namespace get), the concurrent REST calls to the
// nodes, the model and the JSON.
func BenchmarkStatusPipeline(b *testing.B) {
	topo, err := axonsim.LoadTopology("../../examples/topologies/big.yaml")
	if err != nil {
		b.Fatal(err)
	}
	// The benchmark measures the plugin, not the simulated start-up.
	topo.Timing = axonsim.Timing{StartupSeconds: 0.05, ShutdownSeconds: 0.05, CatchUpSeconds: 0.1, ElectionTimeoutMillis: 300}
	w := newWorldOf(b, topo)
	// Wait (a condition, not a sleep) until every group has its leader.
	err = w.sim.WaitFor(20*time.Second, func(ev []axonsim.Event) bool {
		for _, g := range topo.ReplicationGroups {
			if axonsim.Count(ev, "leader-elected", g.Name) == 0 {
				return false
			}
		}
		return true
	})
	if err != nil {
		b.Fatal(err)
	}
	code, out, errOut := runWith(b, w.open, "status", "--transport=direct", "-o", "json")
	if code != 0 {
		b.Fatal(errOut)
	}
	if r := decodeReport(b, out); len(r.Nodes) != 9 || len(r.Groups) != 300 {
		b.Fatalf("want 9 nodes and 300 groups, got %d and %d", len(r.Nodes), len(r.Groups))
	}
	for _, format := range []string{"json", "table"} {
		args := []string{"status", "--transport=direct"}
		if format == "json" {
			args = append(args, "-o", "json")
		}
		b.Run(format, func(b *testing.B) {
			b.ReportAllocs()
			for i := 0; i < b.N; i++ {
				if code, _, errOut := runWith(b, w.open, args...); code != 0 {
					b.Fatal(errOut)
				}
			}
		})
	}
}
