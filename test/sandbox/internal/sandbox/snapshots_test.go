package sandbox

import (
	"bytes"
	"errors"
	"io"
	"testing"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

// The embedded CRDs are the three of snapshot.storage.k8s.io/v1, with upstream's
// names, scopes and status subresources (none for the class).
func TestSnapshotCRDs(t *testing.T) {
	want := map[string]struct {
		scope  string
		status bool
	}{
		"volumesnapshots.snapshot.storage.k8s.io":        {"Namespaced", true},
		"volumesnapshotcontents.snapshot.storage.k8s.io": {"Cluster", true},
		"volumesnapshotclasses.snapshot.storage.k8s.io":  {"Cluster", false},
	}
	dec := utilyaml.NewYAMLOrJSONDecoder(bytes.NewReader(snapshotCRDs), 4096)
	n := 0
	for {
		var obj map[string]any
		if err := dec.Decode(&obj); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			t.Fatal(err)
		}
		u := unstructured.Unstructured{Object: obj}
		w, ok := want[u.GetName()]
		if !ok {
			t.Fatalf("unexpected %s", u.GetName())
		}
		n++
		scope, _, _ := unstructured.NestedString(obj, "spec", "scope")
		group, _, _ := unstructured.NestedString(obj, "spec", "group")
		versions, _, _ := unstructured.NestedSlice(obj, "spec", "versions")
		if scope != w.scope || group != SnapshotGroup || len(versions) != 1 {
			t.Errorf("%s: scope %s group %s versions %d", u.GetName(), scope, group, len(versions))
			continue
		}
		v := versions[0].(map[string]any)
		_, hasStatus, _ := unstructured.NestedMap(v, "subresources", "status")
		if v["name"] != SnapshotVersion || v["served"] != true || v["storage"] != true || hasStatus != w.status {
			t.Errorf("%s: version %v", u.GetName(), v)
		}
	}
	if n != len(want) {
		t.Fatalf("%d CRDs, want %d", n, len(want))
	}
	if d, _, _ := unstructured.NestedString(snapshotClass().Object, "driver"); d != Provisioner {
		t.Fatalf("class driver %s", d)
	}
}
