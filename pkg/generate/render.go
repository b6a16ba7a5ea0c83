package generate

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// Marshal renders one object as YAML without the noise of a Go zero value:
// no status, no creationTimestamp: null.
func Marshal(obj runtime.Object) ([]byte, error) {
	b, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	delete(m, "status")
	clean(m)
	return yaml.Marshal(m)
}

// clean drops null creationTimestamps and empty status, resources and
// updateStrategy objects at every depth (pod and claim templates carry them).
func clean(v any) {
	switch t := v.(type) {
	case map[string]any:
		for k, x := range t {
			switch {
			case k == "creationTimestamp" && x == nil:
				delete(t, k)
			case noise[k] && isEmpty(x):
				delete(t, k)
			default:
				clean(x)
				if k == "metadata" && isEmpty(t[k]) {
					delete(t, k)
				}
			}
		}
	case []any:
		for _, x := range t {
			clean(x)
		}
	}
}

// noise are the fields a Go zero value leaves empty that the API server fills in.
var noise = map[string]bool{"status": true, "resources": true, "updateStrategy": true}

func isEmpty(v any) bool {
	m, ok := v.(map[string]any)
	return v == nil || (ok && len(m) == 0)
}

// Render writes the objects as one multi-document YAML stream, in their order.
func Render(w io.Writer, objs []runtime.Object) error {
	for _, o := range objs {
		b, err := Marshal(o)
		if err != nil {
			return err
		}
		if _, err := fmt.Fprintf(w, "---\n%s", b); err != nil {
			return err
		}
	}
	return nil
}

// FileName is the file WriteDir puts obj in: kind-name.yaml, lower case.
func FileName(obj runtime.Object) string {
	kind := obj.GetObjectKind().GroupVersionKind().Kind
	name := ""
	if a, err := meta.Accessor(obj); err == nil {
		name = a.GetName()
	}
	return strings.ToLower(kind) + "-" + name + ".yaml"
}

// WriteDir writes each object to dir/FileName(obj), creating dir, and returns the
// paths written.
func WriteDir(dir string, objs []runtime.Object) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for _, o := range objs {
		b, err := Marshal(o)
		if err != nil {
			return nil, err
		}
		p := filepath.Join(dir, FileName(o))
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return nil, err
		}
		paths = append(paths, p)
	}
	return paths, nil
}
