package cmd

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// TestUpgradeBackFromAnImageThatNeverStarts: two of orders' three PRIMARY members
// run an image that never becomes ready, so orders has no quorum and every node
// that is a member of it is unhealthy. The way back (an upgrade of every node to a
// good image) must not wait for a healthy cluster it cannot get: the two nodes are
// out of service, so they go first, whatever the state of the others, and the
// rest follows once orders has its quorum again.
func TestUpgradeBackFromAnImageThatNeverStarts(t *testing.T) {
	const bad = "axoniq/axonserver:2099.1.0-nonroot"
	w := neverReadyWorld(t, "*:2099.*")
	ctx := context.Background()
	broken := []string{"axonserver-4", "axonserver-5"}
	for _, n := range broken {
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"axonserver","image":%q}]}}}}`, bad)
		if _, err := w.kube.AppsV1().StatefulSets("axon").Patch(ctx, n, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := w.kube.CoreV1().Pods("axon").Delete(ctx, n+"-0", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// Until both run the bad image (their pods replaced, never Ready).
	for deadline := time.Now().Add(settle); ; {
		onBad := 0
		for _, n := range broken {
			p, err := w.kube.CoreV1().Pods("axon").Get(ctx, n+"-0", metav1.GetOptions{})
			if err == nil && p.DeletionTimestamp == nil && p.Spec.Containers[0].Image == bad {
				onBad++
			}
		}
		if onBad == len(broken) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the broken nodes never ran the bad image")
		}
		time.Sleep(20 * time.Millisecond)
	}
	mark := len(w.sim.Events())
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "-o", "json", "--node-timeout", "1m", "--safety-timeout", "20s", "--poll-interval", "50ms")
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	var started, outOfService []string
	for _, e := range jsonEvents(t, out) {
		switch e["event"] {
		case "step-started":
			started = append(started, e["node"].(string))
		case "out-of-service":
			outOfService = append(outOfService, e["node"].(string))
		}
	}
	if len(started) < 2 || started[0] != "axonserver-4" || started[1] != "axonserver-5" {
		t.Errorf("steps started %v: want the out-of-service nodes first", started)
	}
	// The first goes although the cluster is unhealthy; once it is back, orders has
	// its quorum and the second is an ordinary step (it is down: safe to stop).
	if len(outOfService) == 0 || outOfService[0] != "axonserver-4" {
		t.Errorf("out-of-service steps %v: want axonserver-4 first", outOfService)
	}
	for _, n := range w.sim.NodeNames() {
		if img := w.image(t, n); img != newImage {
			t.Errorf("%s on %s", n, img)
		}
	}
	// Nothing the run did cost a group its quorum: orders had none to lose, and
	// the others kept theirs.
	for _, g := range []string{"_admin", "payments"} {
		if q := axonsim.Filter(w.sim.Events()[mark:], "quorum-lost", g, ""); len(q) > 0 {
			t.Errorf("quorum lost in %s: %v", g, q)
		}
	}
	w.waitStatusHealthy(t)
}

// TestUpgradeGoesOnToAnOutOfServiceTarget: while the first step's node restarts,
// another target goes out of service for good (its pod replaced by one on an image
// that never becomes ready, as an image crashing in a loop leaves a node). Once the
// first node is healthy, the step does not wait for the whole cluster, which cannot
// be healthy until that target is done too: the target goes next and the run ends
// with every node on the good image.
func TestUpgradeGoesOnToAnOutOfServiceTarget(t *testing.T) {
	const bad = "axoniq/axonserver:2099.1.0-nonroot"
	// Restarts of a second, so the second target is down before the first is back.
	topo, err := axonsim.ParseTopology([]byte(strings.Replace(fiveMixed, "startupSeconds: 0.05", "startupSeconds: 1", 1) +
		"faults:\n  - {image: \"*:2099.*\", neverReady: true}\n"))
	if err != nil {
		t.Fatal(err)
	}
	w := newWorldOf(t, topo)
	w.onDelete(t)
	w.waitStatusHealthy(t)
	ctx := context.Background()
	mark := len(w.sim.Events())
	broken := make(chan string, 1)
	go func() {
		defer close(broken)
		var first string
		if err := w.sim.WaitFor(time.Minute, func(ev []axonsim.Event) bool {
			if s := axonsim.Filter(ev[mark:], axonsim.EvNodeStopped, "", ""); len(s) > 0 {
				first = s[0].Node
				return true
			}
			return false
		}); err != nil {
			return
		}
		y := "axonserver-5"
		if first == y {
			y = "axonserver-4"
		}
		patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"axonserver","image":%q}]}}}}`, bad)
		if _, err := w.kube.AppsV1().StatefulSets("axon").Patch(ctx, y, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			return
		}
		if err := w.kube.CoreV1().Pods("axon").Delete(ctx, y+"-0", metav1.DeleteOptions{}); err != nil {
			return
		}
		broken <- y
	}()
	code, out, errOut := w.run(t, "upgrade", "--image", newImage, "-o", "json", "--node-timeout", "30s", "--safety-timeout", "30s", "--poll-interval", "50ms")
	y := <-broken
	if y == "" {
		t.Fatal("the second target was not broken")
	}
	if code != 0 {
		t.Fatalf("exit %d\nstderr: %s\nstdout: %s", code, errOut, out)
	}
	for _, n := range w.sim.NodeNames() {
		if img := w.image(t, n); img != newImage {
			t.Errorf("%s on %s", n, img)
		}
	}
	var next []string
	for _, e := range jsonEvents(t, out) {
		if e["event"] == "next-out-of-service" {
			next = append(next, e["message"].(string))
		}
	}
	// When the first node was back before the pod of y was replaced (a slow
	// machine), the next preflight took y first instead: both end the same.
	t.Logf("steps that went on to an out-of-service target: %q", next)
	for _, m := range next {
		if !strings.HasPrefix(m, y+" is out of service") {
			t.Errorf("went on to %q, want %s", m, y)
		}
	}
	w.waitStatusHealthy(t)
}
