package record

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestReason(t *testing.T) {
	for in, want := range map[[2]string]string{
		{"upgrade", "Started"}:     ReasonStarted,
		{"upgrade", "Finished"}:    ReasonFinished,
		{"replace-node", "Forced"}: "AxonReplaceNodeForced",
		{"drain-node", "Failed"}:   "AxonDrainNodeFailed",
	} {
		if got := Reason(in[0], in[1]); got != want {
			t.Errorf("Reason(%q, %q) = %q, want %q", in[0], in[1], got, want)
		}
	}
}

func TestBeginEndEvent(t *testing.T) {
	ctx := context.Background()
	sts := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1", Namespace: "axon", UID: "u1",
		Annotations: map[string]string{"keep": "me"}}}
	kube := fake.NewClientset(sts)
	r := &Recorder{Kube: kube, Namespace: "axon", Instance: "test"}
	op := Op{Operation: "upgrade", Detail: "to img:2", Holder: "alice", Step: 1, Steps: 3, Started: time.Now().UTC()}
	if err := r.Begin(ctx, "axonserver-1", op); err != nil {
		t.Fatal(err)
	}
	got, _ := kube.AppsV1().StatefulSets("axon").Get(ctx, "axonserver-1", metav1.GetOptions{})
	back, err := ParseOp(got.Annotations[Operation])
	if err != nil || back.Detail != "to img:2" || back.Step != 1 || got.Annotations["keep"] != "me" {
		t.Fatalf("after Begin: %v %+v %v", err, back, got.Annotations)
	}
	extra := Shutdown(3250*time.Millisecond, 120)
	extra[PreviousImage] = "img:1"
	if err := r.End(ctx, "axonserver-1", op, "done", extra); err != nil {
		t.Fatal(err)
	}
	got, _ = kube.AppsV1().StatefulSets("axon").Get(ctx, "axonserver-1", metav1.GetOptions{})
	last, _ := ParseOp(got.Annotations[LastOperation])
	if _, ok := got.Annotations[Operation]; ok || last.Result != "done" || last.Finished.IsZero() ||
		got.Annotations[ShutdownSeconds] != "3.2" && got.Annotations[ShutdownSeconds] != "3.3" ||
		got.Annotations[GracePeriodSeconds] != "120" || got.Annotations[PreviousImage] != "img:1" {
		t.Fatalf("after End: %v", got.Annotations)
	}
	if err := r.Event(ctx, sts, true, ReasonForced, "forced"); err != nil {
		t.Fatal(err)
	}
	evs, _ := kube.CoreV1().Events("axon").List(ctx, metav1.ListOptions{})
	if len(evs.Items) != 1 || evs.Items[0].Reason != ReasonForced || evs.Items[0].Type != "Warning" ||
		evs.Items[0].InvolvedObject.Name != "axonserver-1" || evs.Items[0].InvolvedObject.Kind != "StatefulSet" {
		t.Fatalf("events: %+v", evs.Items)
	}
}
