package rebuild

import "testing"

func TestNamesNode(t *testing.T) {
	for _, tc := range []struct {
		first, node, internal string
		want                  bool
	}{
		{"axonserver-1.axon.svc.cluster.local:8224", "axonserver-1", "", true},
		{"axonserver-1", "axonserver-1", "", true},
		{"AXONSERVER-1.axon.svc.cluster.local", "axonserver-1", "", true},
		{"axonserver-2.axon.svc.cluster.local:8224", "axonserver-1", "", false},
		{"axonserver-10.axon.svc.cluster.local", "axonserver-1", "", false},
		{"as1.example.com:8224", "axonserver-1", "as1.example.com", true},
		{"", "axonserver-1", "", false},
	} {
		if got := NamesNode(tc.first, tc.node, tc.internal); got != tc.want {
			t.Errorf("NamesNode(%q, %q, %q) = %v", tc.first, tc.node, tc.internal, got)
		}
	}
}

func TestRepoint(t *testing.T) {
	for _, tc := range []struct{ original, want string }{
		{"axonserver-1.axon.svc.cluster.local:8224", "axonserver-2.axon.svc.cluster.local:8224"},
		{"axonserver-1.axon.svc.cluster.local", "axonserver-2.axon.svc.cluster.local"},
		{"axonserver-1", "axonserver-2"},
		{"axonserver-1:8224", "axonserver-2:8224"},
		{"as1.example.com:8224", "axonserver-2-0.axonserver-2.axon.svc:8224"},
	} {
		if got := Repoint(tc.original, "axonserver-1", "axonserver-2", "axonserver-2-0.axonserver-2.axon.svc:8224"); got != tc.want {
			t.Errorf("Repoint(%q) = %q; want %q", tc.original, got, tc.want)
		}
	}
}
