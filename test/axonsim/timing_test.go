package axonsim

import (
	"strings"
	"testing"
	"time"
)

// TestElectionTimeoutsSeeded: election timeouts are drawn in [min, max] from the seeded
// source: the same seed gives the same draws.
func TestElectionTimeoutsSeeded(t *testing.T) {
	draws := func(seed int64) []time.Duration {
		topo, err := ParseTopology([]byte(threeNodes("")))
		must(t, err)
		topo.Timing.MinElectionTimeoutMillis, topo.Timing.MaxElectionTimeoutMillis = 1000, 2500
		c, err := NewCluster(topo, Options{Seed: seed})
		must(t, err)
		defer c.Close()
		c.mu.Lock()
		defer c.mu.Unlock()
		var out []time.Duration
		for i := 0; i < 50; i++ {
			d := c.drawTimeout()
			if d < time.Second || d > 2500*time.Millisecond {
				t.Fatalf("timeout %v outside [1s, 2.5s]", d)
			}
			out = append(out, d)
		}
		return out
	}
	a, b, other := draws(7), draws(7), draws(8)
	same := true
	for i := range a {
		if a[i] != b[i] {
			t.Fatalf("draw %d: %v vs %v with the same seed", i, a[i], b[i])
		}
		same = same && a[i] == other[i]
	}
	if same {
		t.Fatal("another seed gave the same draws")
	}
}

// TestCatchUpTime: the model's catch-up time grows with the lag (batches at
// catchUpEntriesPerSecond), catchUpSeconds is its floor, and a follower whose next entry was
// compacted away (or an empty new member) first gets a snapshot whose time grows with the log.
func TestCatchUpTime(t *testing.T) {
	tc := newTestCluster(t, threeNodes("writesPerSecond: 0\n"))
	tc.mu.Lock()
	defer tc.mu.Unlock()
	n := tc.nodes["axonserver-2"]
	n.state, n.knowsCluster = Running, true
	tc.tm.catchUpRate, tc.tm.snapshotRate, tc.tm.catchUpFloor = 10000, 5000, 0
	simulate := func(last, first, from int64, floor time.Duration) time.Duration {
		tc.tm.catchUpFloor = floor
		g := &group{name: "x", leader: "axonserver-1", lastIndex: last, firstIndex: first}
		m := &member{node: "axonserver-2", logIndex: from}
		start := time.Unix(1000, 0)
		for now := start; now.Sub(start) < time.Hour; now = now.Add(10 * time.Millisecond) {
			tc.progress(g, m, now)
			if m.caughtUp {
				return now.Sub(start)
			}
		}
		t.Fatalf("never caught up: %+v", m)
		return 0
	}
	cases := []struct {
		name              string
		last, first, from int64
		floor             time.Duration
		lo, hi            time.Duration
	}{
		{"lag 1,000", 101000, 1, 100000, 0, 90 * time.Millisecond, 130 * time.Millisecond},
		{"lag 20,000", 120000, 1, 100000, 0, 1990 * time.Millisecond, 2030 * time.Millisecond},
		{"lag 100,000", 200000, 1, 100000, 0, 9990 * time.Millisecond, 10030 * time.Millisecond},
		{"floor", 100010, 1, 100000, 3 * time.Second, 3 * time.Second, 3020 * time.Millisecond},
		{"compacted: snapshot of 200,000", 200000, 150000, 100000, 0, 39990 * time.Millisecond, 40030 * time.Millisecond},
		{"new member: snapshot of 50,000", 50000, 1, 0, 0, 9990 * time.Millisecond, 10030 * time.Millisecond},
	}
	for _, cs := range cases {
		if d := simulate(cs.last, cs.first, cs.from, cs.floor); d < cs.lo || d > cs.hi {
			t.Errorf("%s: caught up after %v, want %v..%v", cs.name, d, cs.lo, cs.hi)
		}
	}
}

// TestLaggingVotersKeepLeader: a leader whose voters answer but lag stays leader (commits stall:
// quorum-lost, then quorum-restored once caught up), even when the catch-up takes many
// election timeouts; no election livelock.
func TestLaggingVotersKeepLeader(t *testing.T) {
	tc := newTestCluster(t, `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
writesPerSecond: 5000
nodes: [{name: n1}, {name: n2}, {name: n3}]
replicationGroups:
  - name: default
    contexts: [default]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}
timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpEntriesPerSecond: 5000, minElectionTimeoutMillis: 100, maxElectionTimeoutMillis: 250}
`)
	tc.startAll()
	leader := tc.leader("default")
	var f1, f2 string
	for _, n := range tc.NodeNames() {
		if n != leader {
			if f1 == "" {
				f1 = n
			} else {
				f2 = n
			}
		}
	}
	tc.makeLag("default", f1, 5000) // about 1 s to copy at 5,000 entries/s: four max election timeouts
	mark := len(tc.Events())
	must(t, tc.KillNode(f2))
	tc.waitFor("quorum lost", func(ev []Event) bool { return len(Filter(ev[mark:], EvQuorumLost, "default", "")) == 1 })
	tc.waitFor("caught up", func(ev []Event) bool { return len(Filter(ev[mark:], EvCaughtUp, "default", f1)) == 1 })
	tc.waitFor("quorum restored", func(ev []Event) bool { return len(Filter(ev[mark:], EvQuorumRestored, "default", "")) == 1 })
	ev := tc.Events()[mark:]
	if n := len(Filter(ev, EvLeaderLost, "default", "")) + len(Filter(ev, EvLeaderElected, "default", "")); n != 0 || tc.leader("default") != leader {
		t.Fatalf("leadership changed while a lagging voter answered: %d events, leader %s", n, tc.leader("default"))
	}
	cu := Filter(ev, EvCaughtUp, "default", f1)[0].Time
	if d := cu.Sub(ev[0].Time); d < tc.tm.maxElection {
		t.Logf("catch-up took %v (shorter than one max election timeout %v)", d, tc.tm.maxElection)
	}
}

// TestStoreInitWindow: from 4.5.3 the HTTP port answers before the event stores are
// initialised (node-ready, then node-initialized; no Raft meanwhile); before 4.5.3 the port
// opens only after them.
func TestStoreInitWindow(t *testing.T) {
	topo := strings.Replace(threeNodes(""), "electionTimeoutMillis: 150}", "electionTimeoutMillis: 150, storeInitSeconds: 0.4}", 1)
	tc := newTestCluster(t, topo)
	tc.startAll()
	mark := len(tc.Events())
	must(t, tc.StopNode("axonserver-3", time.Minute))
	tc.start("axonserver-3")
	tc.waitFor("ready", func(ev []Event) bool { return len(Filter(ev[mark:], EvNodeReady, "", "axonserver-3")) == 1 })
	var st []JSONRaftStatus
	code, _, _ := tc.get("axonserver-3", "/actuator/info", nil)
	tc.get("axonserver-3", "/internal/raft/status", &st)
	initialized := len(Filter(tc.Events()[mark:], EvNodeInitialized, "", "axonserver-3")) > 0
	if code != 200 || (!initialized && len(st) != 0) {
		t.Errorf("during store init: info %d, raft status %d groups", code, len(st))
	}
	tc.waitFor("initialized", func(ev []Event) bool { return len(Filter(ev[mark:], EvNodeInitialized, "", "axonserver-3")) == 1 })
	ev := tc.Events()[mark:]
	ready, init := Filter(ev, EvNodeReady, "", "axonserver-3")[0].Time, Filter(ev, EvNodeInitialized, "", "axonserver-3")[0].Time
	if d := init.Sub(ready); d < 400*time.Millisecond {
		t.Errorf("initialised %v after ready", d)
	}
	for _, e := range Filter(ev, EvCaughtUp, "", "axonserver-3") {
		if e.Time.Before(init) {
			t.Errorf("caught up in %s before its stores were initialised", e.Group)
		}
	}

	old := newTestCluster(t, topo)
	if _, err := old.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", Image: "axoniq/axonserver-enterprise:4.5.2-nonroot"}); err != nil {
		t.Fatal(err)
	}
	old.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	ev = old.Events()
	if d := Filter(ev, EvNodeReady, "", "")[0].Time.Sub(Filter(ev, EvNodeStarted, "", "")[0].Time); d < 400*time.Millisecond {
		t.Errorf("4.5.2 listened %v after start, before its stores were initialised", d)
	}
	if n := Count(ev, EvNodeInitialized, ""); n != 0 {
		t.Errorf("4.5.2: %d node-initialized", n)
	}
}
