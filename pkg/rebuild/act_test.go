package rebuild

import (
	"context"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/record"
)

// TestActDeletesAPodOnOldClaims: someone else deleted the pod while the node left
// its groups, so the pod the run recorded is gone and its successor runs on the
// claims being deleted (Terminating, held by that pod). The rerun deletes that pod
// too, so that the StatefulSet recreates it on fresh volumes; a pod on fresh claims
// is left alone.
func TestActDeletesAPodOnOldClaims(t *testing.T) {
	for _, tc := range []struct {
		name       string
		oldClaims  bool // the recorded claims still exist with their UIDs
		wantDelete bool
	}{
		{"successor on the old claims", true, true},
		{"successor on fresh claims", false, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sts := testSTS("data")
			sts.Namespace = "axon"
			pod := testPod("axonserver-2-0", "axonserver-2", map[string]string{"data": "data-axonserver-2-0"})
			pod.Namespace, pod.UID = "axon", "successor"
			now := metav1.Now()
			pvc := &corev1.PersistentVolumeClaim{ObjectMeta: metav1.ObjectMeta{Name: "data-axonserver-2-0", Namespace: "axon",
				UID: "old-claim", DeletionTimestamp: &now, Finalizers: []string{"kubernetes.io/pvc-protection"}}}
			if !tc.oldClaims {
				pvc.UID, pvc.DeletionTimestamp, pvc.Finalizers = "fresh-claim", nil, nil
			}
			st := State{Run: "r", Targets: []string{"axonserver-2"}, Fresh: true, Phase: VolumesDeleted,
				OldPod: "recorded-then-deleted-by-someone-else", Claims: []Claim{{Name: "data-axonserver-2-0", UID: "old-claim"}}}
			sts.Annotations = map[string]string{Annotation: st.String()}
			kube := fake.NewClientset([]runtime.Object{sts, pod, pvc}...)
			e := &Env{Kube: kube, Namespace: "axon", Recorder: &record.Recorder{Kube: kube, Namespace: "axon"}}
			restart, err := e.Act(context.Background(), discovery.Member{NodeName: "axonserver-2", StatefulSet: sts, Pod: pod})
			if err != nil {
				t.Fatal(err)
			}
			_, gerr := kube.CoreV1().Pods("axon").Get(context.Background(), "axonserver-2-0", metav1.GetOptions{})
			deleted := gerr != nil
			if deleted != tc.wantDelete || restart != tc.wantDelete {
				t.Fatalf("pod deleted %v, restart %v; want %v", deleted, restart, tc.wantDelete)
			}
		})
	}
}
