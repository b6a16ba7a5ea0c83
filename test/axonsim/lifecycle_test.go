package axonsim

import (
	"strings"
	"testing"
	"time"
)

func TestLifecycleInfoAndMe(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	n, err := tc.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", Image: "axoniq/axonserver-enterprise:4.4.2-dev-nonroot"})
	if err != nil {
		t.Fatal(err)
	}
	if n.URL() != "" {
		t.Fatalf("URL before startup is done: %q", n.URL())
	}
	if _, err := tc.StartNode("axonserver-1", NodeConfig{}); err == nil {
		t.Fatal("second start of a running node must fail")
	}
	if _, err := tc.StartNode("nope", NodeConfig{}); err == nil {
		t.Fatal("unknown node must fail")
	}
	tc.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	if n.State() != Running || !strings.HasPrefix(n.URL(), "http://127.0.0.1:") {
		t.Fatalf("state %v url %q", n.State(), n.URL())
	}
	var info struct {
		App struct{ Name, Description, Version string }
	}
	tc.get("axonserver-1", "/actuator/info", &info)
	if info.App.Version != "4.4.2" || info.App.Name != "Axon Server" {
		t.Fatalf("info: %+v", info)
	}
	var me JSONMe
	tc.get("axonserver-1", "/v1/public/me", &me)
	if me.Name != "axonserver-1" || !me.Clustered || !me.AdminNode || strings.Join(me.ContextNames, ",") != "_admin,default" {
		t.Fatalf("me: %+v", me)
	}
	if err := tc.StopNode("axonserver-1", time.Minute); err != nil {
		t.Fatal(err)
	}
	if n.State() != Stopped || n.URL() != "" {
		t.Fatalf("after stop: %v %q", n.State(), n.URL())
	}
	ev := tc.Events()
	if CountNode(ev, EvNodeStopped, "axonserver-1") != 1 || CountNode(ev, EvNodeKilled, "axonserver-1") != 0 {
		t.Fatalf("events: %+v", ev)
	}
}

func TestVersionFromImage(t *testing.T) {
	for img, want := range map[string]string{
		"axoniq/axonserver:2024.1.0-nonroot":             "2024.1.0",
		"axoniq/axonserver-enterprise:4.4.2-dev-nonroot": "4.4.2",
		"registry:5000/axoniq/axonserver:2025.0.0":       "2025.0.0",
		"axoniq/axonserver":                              "latest",
		"axoniq/axonserver:2023.2.1@sha256:abc":          "2023.2.1",
	} {
		if got := VersionFromImage(img); got != want {
			t.Errorf("%s: %q, want %q", img, got, want)
		}
	}
}
