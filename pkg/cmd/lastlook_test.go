package cmd

import (
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"

	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// TestStatusRemembersTheLastLook: a second `status` starts from what the first learned
// (package lastlook, under --cache-dir): it asks no process again for its build or its
// configuration, nor the groups' view while _admin has not moved, reads no worker for
// its zone nor the namespace, and shows the same report.
func TestStatusRemembersTheLastLook(t *testing.T) {
	topo, err := axonsim.ParseTopology([]byte(threeNodes))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	asked := map[string]int{}
	w := newWorldWith(t, topo, axonsim.Options{OnRequest: func(node, method, path string) {
		mu.Lock()
		defer mu.Unlock()
		asked[path]++
	}})
	open := func(f *connect.Flags) (*connect.Session, error) {
		return connect.OpenWith(f, w.kube, &rest.Config{Host: "https://api.world.test:6443"}, "axon")
	}
	cache := t.TempDir()
	look := func() (*status.Report, map[string]int, map[string]int) {
		t.Helper()
		mu.Lock()
		clear(asked)
		mu.Unlock()
		w.kube.ClearActions()
		code, out, errOut := runWith(t, open, "status", "--transport=direct", "-o", "json", "--cache-dir", cache)
		if code != 0 {
			t.Fatalf("status: exit %d: %s", code, errOut)
		}
		kube := map[string]int{}
		for _, a := range w.kube.Actions() {
			kube[a.GetVerb()+" "+a.GetResource().Resource]++
		}
		mu.Lock()
		defer mu.Unlock()
		return decodeReport(t, out), maps.Clone(asked), kube
	}
	first, axon1, kube1 := look()
	if axon1["/actuator/info"] != 3 || axon1["/actuator/env"] != 3 || axon1["/v1/public/me"] != 3 || kube1["get nodes"] != 3 {
		t.Fatalf("the first look asked info %d, env %d, me %d times and read %d workers; want 3 each",
			axon1["/actuator/info"], axon1["/actuator/env"], axon1["/v1/public/me"], kube1["get nodes"])
	}
	file := filepath.Join(cache, "kubectl-axon", "https___api.world.test_6443", "axon.json")
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("nothing remembered: %v", err)
	}
	second, axon2, kube2 := look()
	if axon1["/v1/public/replicationgroups"] != 1 {
		t.Errorf("the first look asked the groups' view %d times, want 1", axon1["/v1/public/replicationgroups"])
	}
	for _, p := range []string{"/actuator/info", "/actuator/env", "/v1/public/me", "/v1/public/replicationgroups"} {
		if axon2[p] != 0 {
			t.Errorf("the second look asked %s %d times, want 0 (remembered: %s)", p, axon2[p], raw)
		}
	}
	for _, k := range []string{"get nodes", "get namespaces"} {
		if kube2[k] != 0 {
			t.Errorf("the second look made %d %s requests, want 0", kube2[k], k)
		}
	}
	if axon2["/v1/public/license"] != axon1["/v1/public/license"] || axon2["/v1/public/license"] == 0 {
		t.Errorf("license asked %d then %d times; want once each", axon1["/v1/public/license"], axon2["/v1/public/license"])
	}
	a, b := comparable(t, first), comparable(t, second)
	if a != b {
		t.Errorf("the reports differ:\nfirst:  %s\nsecond: %s", a, b)
	}
	// A configuration change moves _admin: the next look asks the view again and
	// shows the change.
	if err := w.sim.RemoveMember("payments", "axonserver-3"); err != nil {
		t.Fatal(err)
	}
	err = w.sim.WaitFor(20*time.Second, func(ev []axonsim.Event) bool { return axonsim.Count(ev, "member-removed", "payments") == 1 })
	if err != nil {
		t.Fatal(err)
	}
	third, axon3, _ := look()
	if axon3["/v1/public/replicationgroups"] != 1 {
		t.Errorf("after a membership change the look asked the groups' view %d times, want 1", axon3["/v1/public/replicationgroups"])
	}
	for _, g := range third.Groups {
		if g.Name == "payments" && len(g.Members) != 2 {
			t.Errorf("the look after a membership change shows payments with %d members, want 2", len(g.Members))
		}
	}
}

// comparable is r as JSON without what changes from one look to the next.
func comparable(t *testing.T, r *status.Report) string {
	t.Helper()
	var b strings.Builder
	c := *r
	c.ObservedAt = time.Time{}
	if err := status.WriteData(&b, c, "json"); err != nil {
		t.Fatal(err)
	}
	return b.String()
}
