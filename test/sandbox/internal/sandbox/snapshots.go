package sandbox

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/clientcmd"
	watchtools "k8s.io/client-go/tools/watch"
)

// The CSI snapshot API the sandbox serves (its CRDs, snapshotcrds.yaml) and the
// VolumeSnapshotClass of its provisioner.
const (
	SnapshotGroup     = "snapshot.storage.k8s.io"
	SnapshotVersion   = "v1"
	SnapshotClassName = "axon-sandbox-snapshots"
	// annDefaultSnapshotClass marks the class taken for a VolumeSnapshot that names none.
	AnnDefaultSnapshotClass = "snapshot.storage.kubernetes.io/is-default-class"
)

// The snapshot API's resources.
var (
	VolumeSnapshots        = schema.GroupVersionResource{Group: SnapshotGroup, Version: SnapshotVersion, Resource: "volumesnapshots"}
	VolumeSnapshotContents = schema.GroupVersionResource{Group: SnapshotGroup, Version: SnapshotVersion, Resource: "volumesnapshotcontents"}
	VolumeSnapshotClasses  = schema.GroupVersionResource{Group: SnapshotGroup, Version: SnapshotVersion, Resource: "volumesnapshotclasses"}
	crds                   = schema.GroupVersionResource{Group: "apiextensions.k8s.io", Version: "v1", Resource: "customresourcedefinitions"}
)

//go:embed snapshotcrds.yaml
var snapshotCRDs []byte

// snapshotClass is the provisioner's VolumeSnapshotClass, the default one.
func snapshotClass() *unstructured.Unstructured {
	return &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": SnapshotGroup + "/" + SnapshotVersion,
		"kind":       "VolumeSnapshotClass",
		"metadata": map[string]any{
			"name":        SnapshotClassName,
			"annotations": map[string]any{AnnDefaultSnapshotClass: "true"},
		},
		"driver":         Provisioner,
		"deletionPolicy": "Delete",
	}}
}

// installSnapshotAPI creates the snapshot CRDs, waits until the API server
// serves them, and creates the provisioner's VolumeSnapshotClass. It runs before
// the agent starts, so the agent's snapshot controller finds the API at once.
func installSnapshotAPI(ctx context.Context, kubeconfigPath string) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfigPath)
	if err != nil {
		return err
	}
	dyn, err := dynamic.NewForConfig(cfg)
	if err != nil {
		return err
	}
	return InstallSnapshotAPI(ctx, dyn)
}

// InstallSnapshotAPI is installSnapshotAPI with a client.
func InstallSnapshotAPI(ctx context.Context, dyn dynamic.Interface) error {
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(snapshotCRDs), 4096)
	var names []string
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return fmt.Errorf("snapshotcrds.yaml: %w", err)
		}
		if len(obj) == 0 {
			continue
		}
		u := &unstructured.Unstructured{Object: obj}
		if _, err := dyn.Resource(crds).Create(ctx, u, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("CustomResourceDefinition %s: %w", u.GetName(), err)
		}
		names = append(names, u.GetName())
	}
	for _, n := range names {
		if err := waitEstablished(ctx, dyn, n); err != nil {
			return err
		}
	}
	if _, err := dyn.Resource(VolumeSnapshotClasses).Create(ctx, snapshotClass(), metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("VolumeSnapshotClass %s: %w", SnapshotClassName, err)
	}
	return nil
}

// waitEstablished waits on a watch for the CRD's Established condition.
func waitEstablished(ctx context.Context, dyn dynamic.Interface, name string) error {
	sel := fields.OneTermEqualSelector("metadata.name", name).String()
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, o metav1.ListOptions) (runtime.Object, error) {
			o.FieldSelector = sel
			return dyn.Resource(crds).List(ctx, o)
		},
		WatchFuncWithContext: func(ctx context.Context, o metav1.ListOptions) (watch.Interface, error) {
			o.FieldSelector = sel
			return dyn.Resource(crds).Watch(ctx, o)
		},
	}
	_, err := watchtools.UntilWithSync(ctx, lw, &unstructured.Unstructured{}, nil, func(e watch.Event) (bool, error) {
		u, ok := e.Object.(*unstructured.Unstructured)
		if !ok {
			return false, nil
		}
		conds, _, _ := unstructured.NestedSlice(u.Object, "status", "conditions")
		for _, c := range conds {
			m, _ := c.(map[string]any)
			if m["type"] == "Established" && m["status"] == "True" {
				return true, nil
			}
		}
		return false, nil
	})
	if err != nil {
		return fmt.Errorf("CustomResourceDefinition %s not established: %w", name, err)
	}
	return nil
}
