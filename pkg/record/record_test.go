package record

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
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
	r.End("axonserver-1", op, "done", extra)
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	got, _ = kube.AppsV1().StatefulSets("axon").Get(ctx, "axonserver-1", metav1.GetOptions{})
	last, _ := ParseOp(got.Annotations[LastOperation])
	if _, ok := got.Annotations[Operation]; ok || last.Result != "done" || last.Finished.IsZero() ||
		got.Annotations[ShutdownSeconds] != "3.2" && got.Annotations[ShutdownSeconds] != "3.3" ||
		got.Annotations[GracePeriodSeconds] != "120" || got.Annotations[PreviousImage] != "img:1" {
		t.Fatalf("after End: %v", got.Annotations)
	}
	r.Event(sts, true, ReasonForced, "forced")
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs, _ := kube.CoreV1().Events("axon").List(ctx, metav1.ListOptions{})
	if len(evs.Items) != 1 || evs.Items[0].Reason != ReasonForced || evs.Items[0].Type != "Warning" ||
		evs.Items[0].InvolvedObject.Name != "axonserver-1" || evs.Items[0].InvolvedObject.Kind != "StatefulSet" {
		t.Fatalf("events: %+v", evs.Items)
	}
}

// TestWritesInOrderInTheBackground: End and Event return before the API server
// answers; a later Annotate of the same StatefulSet waits for its End (one
// StatefulSet's patches are made in the order asked), one of another StatefulSet and
// the Events do not; a background write that fails reaches Warn. (An API server of
// its own: the fake clientset answers one call at a time.)
func TestWritesInOrderInTheBackground(t *testing.T) {
	ctx := context.Background()
	release := make(chan struct{})
	var (
		mu    sync.Mutex
		order []string
		first = true
	)
	note := func(what string) {
		mu.Lock()
		order = append(order, what)
		mu.Unlock()
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		name := path.Base(req.URL.Path)
		switch {
		case req.Method == http.MethodPatch:
			mu.Lock()
			blocked := first && name == "axonserver-1"
			first = first && !blocked
			mu.Unlock()
			if blocked {
				<-release
				note("end " + name)
				http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","message":"patch refused","code":500}`, http.StatusInternalServerError)
				return
			}
			note("patch " + name)
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprintf(w, `{"kind":"StatefulSet","apiVersion":"apps/v1","metadata":{"name":%q,"namespace":"axon"}}`, name)
		case req.Method == http.MethodPost && strings.HasSuffix(req.URL.Path, "/events"):
			note("event")
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusCreated)
			fmt.Fprint(w, `{"kind":"Event","apiVersion":"v1","metadata":{"name":"e","namespace":"axon"}}`)
		default:
			http.NotFound(w, req)
		}
	}))
	defer srv.Close()
	defer close(release)
	kube, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	a := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "axonserver-1", Namespace: "axon", UID: "u1"}}
	warned := make(chan error, 1)
	r := &Recorder{Kube: kube, Namespace: "axon", Instance: "test", Warn: func(err error) { warned <- err }}
	r.End("axonserver-1", Op{Operation: "upgrade"}, "done", nil) // returns although the API server has not answered
	r.Event(a, false, ReasonFinished, "finished")
	if err := r.Annotate(ctx, "axonserver-2", map[string]string{"k": "v"}); err != nil {
		t.Fatal(err)
	}
	same := make(chan error, 1)
	go func() { same <- r.Annotate(ctx, "axonserver-1", map[string]string{"k": "v"}) }()
	release <- struct{}{}
	if err := <-same; err != nil {
		t.Fatal(err)
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if err := <-warned; err == nil || !strings.Contains(err.Error(), "patch refused") {
		t.Errorf("warned %v", err)
	}
	// The writes to one StatefulSet keep their order; a write to another does not wait
	// for them; the Event is written, in the background, in no particular place.
	var writes []string
	for _, w := range order {
		if w != "event" {
			writes = append(writes, w)
		}
	}
	if strings.Join(writes, ",") != "patch axonserver-2,end axonserver-1,patch axonserver-1" || len(writes) != len(order)-1 {
		t.Errorf("writes made in the order %v", order)
	}
}
