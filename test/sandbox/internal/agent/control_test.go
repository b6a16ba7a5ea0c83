package agent

import (
	"context"
	"log"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
)

// TestControlPartition: axon-sandbox partition and heal reach the agent's simulator through
// the control socket; an unknown node is an error the caller sees.
func TestControlPartition(t *testing.T) {
	topo, err := axonsim.ParseTopology([]byte(`name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}]
replicationGroups:
  - {name: _admin, contexts: [_admin], roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}}
`))
	if err != nil {
		t.Fatal(err)
	}
	sim, err := axonsim.NewCluster(topo, axonsim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	// a short directory: a unix socket path is limited to 108 bytes
	dir, err := os.MkdirTemp("", "axsb-ctl-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	if err := os.MkdirAll(filepath.Join(dir, "agent"), 0o755); err != nil {
		t.Fatal(err)
	}
	st := &sandbox.State{Dir: dir}
	a := &Agent{st: st, sim: sim, logger: log.New(os.Stderr, "agent: ", 0)}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := a.serveControl(ctx); err != nil {
		t.Fatal(err)
	}
	if err := sandbox.Partition(ctx, st, "axonserver-2", time.Minute); err != nil {
		t.Fatal(err)
	}
	if !sim.Partitioned("axonserver-2") || sim.Partitioned("axonserver-1") {
		t.Fatal("partition did not reach the simulator")
	}
	if err := sandbox.Heal(ctx, st, "axonserver-2"); err != nil {
		t.Fatal(err)
	}
	if sim.Partitioned("axonserver-2") {
		t.Fatal("heal did not reach the simulator")
	}
	if err := sandbox.Partition(ctx, st, "nobody", time.Minute); err == nil {
		t.Fatal("partition of an unknown node succeeded")
	}
}
