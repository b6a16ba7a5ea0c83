package axonsim

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSecondClusterNamespace: two clusters of one topology writing to one audit log (the
// sandbox's cluster per namespace): the second's events carry its namespace, the first's
// none, InNamespace tells them apart, and with TLS the second signs with the first's CA.
func TestSecondClusterNamespace(t *testing.T) {
	topo, err := ParseTopology([]byte(`name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
tls: true
nodes: [{name: axonserver-1}]
replicationGroups:
  - {name: _admin, contexts: [_admin, default], roles: {axonserver-1: PRIMARY}}
` + fastTiming))
	if err != nil {
		t.Fatal(err)
	}
	audit := &syncBuffer{}
	main, err := NewCluster(topo, Options{Audit: audit, Seed: 1, TickInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer main.Close()
	other, err := NewCluster(topo, Options{Audit: audit, Seed: 2, TickInterval: 10 * time.Millisecond, Namespace: "axon-restored", CAOf: main})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if !bytes.Equal(main.CACertPEM(), other.CACertPEM()) || len(main.CACertPEM()) == 0 {
		t.Fatal("the second cluster does not share the first's CA")
	}
	for _, c := range []*Cluster{main, other} {
		if _, err := c.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", DataDir: t.TempDir()}); err != nil {
			t.Fatal(err)
		}
		if err := c.WaitFor(time.Minute, func(ev []Event) bool { return Count(ev, EvLeaderElected, "_admin") > 0 }); err != nil {
			t.Fatal(err)
		}
	}
	// A client trusting the one CA reaches both.
	for _, c := range []*Cluster{main, other} {
		resp, err := main.HTTPClient().Get(c.Node("axonserver-1").URL() + "/actuator/info")
		if err != nil {
			t.Fatalf("TLS with the shared CA: %v", err)
		}
		resp.Body.Close()
	}
	ev, err := ReadAudit(strings.NewReader(audit.String()))
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs := InNamespace(ev, ""), InNamespace(ev, "axon-restored")
	if len(mine)+len(theirs) != len(ev) || len(mine) == 0 || len(theirs) == 0 {
		t.Fatalf("%d events: %d of the main cluster, %d of axon-restored", len(ev), len(mine), len(theirs))
	}
	for _, set := range [][]Event{mine, theirs} {
		if CountNode(set, EvNodeReady, "axonserver-1") != 1 || Count(set, EvLeaderElected, "_admin") != 1 {
			t.Errorf("each cluster's events: one node-ready, one election; got\n%s", audit.String())
		}
	}
	for _, e := range other.Events() {
		if e.Namespace != "axon-restored" {
			t.Errorf("event %s of the second cluster without its namespace", e.Event)
		}
	}
}
