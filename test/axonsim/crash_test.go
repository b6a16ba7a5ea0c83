package axonsim

import (
	"strings"
	"testing"
	"time"
)

// TestCrashCountThenRecover: with crashCount 2 a node's first two starts on a matching image
// crash crashAfterSeconds after they are ready and the third runs on; a start on another
// matching image counts afresh.
func TestCrashCountThenRecover(t *testing.T) {
	tc := newTestCluster(t, threeNodes(`faults:
  - {image: "*-recovering", crashAfterSeconds: 0.1, crashCount: 2}
`))
	tc.startAll()
	const n = "axonserver-3"
	startOn := func(image string) {
		t.Helper()
		if _, err := tc.StartNode(n, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: n, Image: image}); err != nil {
			t.Fatal(err)
		}
	}
	crashes := func(ev []Event) []Event {
		var out []Event
		for _, e := range Filter(ev, EvNodeKilled, "", n) {
			if strings.Contains(e.Reason, "crashAfterSeconds") {
				out = append(out, e)
			}
		}
		return out
	}
	must(t, tc.StopNode(n, time.Minute))
	for i := 1; i <= 2; i++ {
		startOn("axoniq/axonserver:2024.7.0-recovering")
		tc.waitFor("crash", func(ev []Event) bool { return len(crashes(ev)) == i })
	}
	if r := crashes(tc.Events())[1].Reason; !strings.Contains(r, "crash 2 of 2") {
		t.Errorf("second crash's reason %q", r)
	}
	startOn("axoniq/axonserver:2024.7.0-recovering")
	tc.waitFor("ready", func([]Event) bool { return tc.Node(n).URL() != "" })
	// Ten times crashAfterSeconds without a third crash: the node recovered.
	if err := tc.WaitFor(time.Second, func(ev []Event) bool { return len(crashes(ev)) > 2 }); err == nil {
		t.Fatalf("a third start crashed: %+v", crashes(tc.Events()))
	}
	if tc.Node(n).State() != Running {
		t.Fatalf("after two crashes: %s", tc.Node(n).State())
	}
	// Another image with the fault counts afresh.
	must(t, tc.StopNode(n, time.Minute))
	startOn("axoniq/axonserver:2024.10.0-recovering")
	tc.waitFor("crash on the next image", func(ev []Event) bool { return len(crashes(ev)) == 3 })
}

// TestCrashCountValidation: crashCount needs crashAfterSeconds and must not be negative.
func TestCrashCountValidation(t *testing.T) {
	for _, f := range []string{"{crashCount: 2}", "{crashAfterSeconds: 1, crashCount: -1}"} {
		if _, err := ParseTopology([]byte(threeNodes("faults:\n  - " + f + "\n"))); err == nil || !strings.Contains(err.Error(), "crashCount") {
			t.Errorf("faults %s: %v, want an error about crashCount", f, err)
		}
	}
}
