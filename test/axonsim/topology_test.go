package axonsim

import (
	"os"
	"strings"
	"testing"
	"time"
)

func TestParseTopologyErrors(t *testing.T) {
	base := `name: c
image: axoniq/axonserver:2024.1.0-nonroot
nodes:
  - {name: a}
  - {name: b}
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {a: PRIMARY, b: PRIMARY}
`
	cases := map[string]struct{ yaml, want string }{
		"unknown key":      {base + "bogus: 1\n", "line 10: field bogus not found"},
		"unknown node key": {strings.Replace(base, "{name: b}", "{name: b, zone: x}", 1), "line 5: field zone not found"},
		"role for unknown": {strings.Replace(base, "b: PRIMARY}", "b: PRIMARY, z: PRIMARY}", 1), "line 9: group \"_admin\": role for unknown node \"z\""},
		"no primary":       {strings.Replace(base, "{a: PRIMARY, b: PRIMARY}", "{a: ACTIVE_BACKUP}", 1), "line 7: group \"_admin\" has no PRIMARY"},
		"bad role":         {strings.Replace(base, "b: PRIMARY}", "b: LEADER}", 1), "line 9: group \"_admin\": bad role \"LEADER\""},
		"duplicate node":   {strings.Replace(base, "{name: b}", "{name: a}", 1), "line 5: duplicate node \"a\""},
		"fault unknown":    {base + "faults:\n  - {node: q, neverReady: true}\n", "line 11: fault for unknown node \"q\""},
	}
	for name, c := range cases {
		_, err := ParseTopology([]byte(c.yaml))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want %q", name, err, c.want)
		}
	}
	topo, err := ParseTopology([]byte(base))
	if err != nil {
		t.Fatal(err)
	}
	if tm := topo.Timing.normalized(); topo.MinActiveBackups != 1 || topo.WritesPerSecond != 20 || tm.minElection != time.Second || tm.maxElection != 2500*time.Millisecond || tm.heartbeat != 300*time.Millisecond {
		t.Fatalf("defaults: %+v", topo)
	}
}

func TestExampleTopologies(t *testing.T) {
	for file, want := range map[string][3]int{"demo.yaml": {5, 5, 0}, "three.yaml": {3, 2, 0}, "big.yaml": {9, 300, 1000}} {
		topo, err := LoadTopology("../../examples/topologies/" + file)
		if err != nil {
			t.Fatal(err)
		}
		ctx := 0
		for _, g := range topo.ReplicationGroups {
			ctx += len(g.ContextNames())
		}
		if len(topo.Nodes) != want[0] || len(topo.ReplicationGroups) != want[1] || (want[2] > 0 && ctx != want[2]) {
			t.Errorf("%s: %d nodes, %d groups, %d contexts", file, len(topo.Nodes), len(topo.ReplicationGroups), ctx)
		}
	}
}

// TestBigCluster runs 9 nodes with 1,000 contexts in 300 groups (examples/topologies/big.yaml
// with short timings), restarts one node and checks that no group lost its quorum.
func TestBigCluster(t *testing.T) {
	b, err := os.ReadFile("../../examples/topologies/big.yaml")
	must(t, err)
	y := strings.Replace(string(b), "timing: {startupSeconds: 2, shutdownSeconds: 1, catchUpSeconds: 1, electionTimeoutMillis: 1500}", strings.TrimSpace(fastTiming), 1)
	tc := newTestCluster(t, y)
	start := time.Now()
	tc.startAll()
	t.Logf("9 nodes, 300 groups, 1000 contexts stable after %v", time.Since(start))
	var ctxs []JSONContext
	tc.get("axonserver-1", "/v1/public/context", &ctxs)
	if len(ctxs) != 1000 {
		t.Fatalf("%d contexts", len(ctxs))
	}
	before := len(tc.Events())
	must(t, tc.StopNode("axonserver-5", time.Minute))
	tc.start("axonserver-5")
	tc.waitStable()
	ev := tc.Events()[before:]
	if n := Count(ev, EvQuorumLost, ""); n != 0 {
		t.Fatalf("quorum-lost: %d", n)
	}
	// Each of its 100 groups has it back in sync: it caught up, or it was re-elected before
	// anybody else (it returned within the election timeout with the most complete log).
	back := map[string]bool{}
	for _, e := range append(Filter(ev, EvCaughtUp, "", "axonserver-5"), Filter(ev, EvLeaderElected, "", "axonserver-5")...) {
		back[e.Group] = true
	}
	if len(back) != 100 {
		t.Errorf("axonserver-5 back in sync in %d groups, want 100", len(back))
	}
}

func TestReadAudit(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	must(t, tc.KillNode("axonserver-1"))
	ev, err := ReadAudit(strings.NewReader(tc.audit.String()))
	must(t, err)
	mem := tc.Events()
	if len(ev) != len(mem) {
		t.Fatalf("%d events read, %d emitted", len(ev), len(mem))
	}
	for i := range ev {
		if ev[i].Event != mem[i].Event || !ev[i].Time.Equal(mem[i].Time) || ev[i].Group != mem[i].Group || ev[i].Node != mem[i].Node {
			t.Fatalf("event %d: %+v vs %+v", i, ev[i], mem[i])
		}
	}
	if CountNode(ev, EvNodeKilled, "axonserver-1") != 1 || Count(ev, EvLeaderElected, "_admin") < 1 {
		t.Fatalf("counts: %+v", ev)
	}
	if !strings.Contains(tc.audit.String(), `"time":"`) {
		t.Fatal("no time field")
	}
}
