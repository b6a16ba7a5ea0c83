package axonsim

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a goroutine-safe audit writer.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

const fastTiming = "timing: {startupSeconds: 0.05, shutdownSeconds: 0.05, catchUpSeconds: 0.2, electionTimeoutMillis: 150}\n"

type testCluster struct {
	*Cluster
	t     *testing.T
	audit *syncBuffer
}

func newTestCluster(t *testing.T, topoYAML string) *testCluster {
	t.Helper()
	topo, err := ParseTopology([]byte(topoYAML))
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	audit := &syncBuffer{}
	c, err := NewCluster(topo, Options{Audit: audit, Seed: 1, TickInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &testCluster{Cluster: c, t: t, audit: audit}
}

func (tc *testCluster) startAll() {
	tc.t.Helper()
	for _, name := range tc.NodeNames() {
		tc.start(name)
	}
	tc.waitStable()
}

func (tc *testCluster) start(name string) {
	tc.t.Helper()
	if _, err := tc.StartNode(name, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: name}); err != nil {
		tc.t.Fatal(err)
	}
}

// waitFor waits for cond on the events, failing the test after a generous minute (a busy
// machine must not fail a test; a passing one never waits that long).
func (tc *testCluster) waitFor(what string, cond func(ev []Event) bool) {
	tc.t.Helper()
	if err := tc.WaitFor(time.Minute, cond); err != nil {
		tc.t.Fatalf("%s: %v\naudit:\n%s", what, err, tc.audit.String())
	}
}

// waitStable waits until every group has a leader and every running member is caught up.
func (tc *testCluster) waitStable() {
	tc.t.Helper()
	tc.waitFor("stable cluster", func([]Event) bool { return tc.stable() })
}

func (tc *testCluster) stable() bool {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	for _, g := range tc.groups {
		if g.leader == "" || g.quorum != 1 || g.pending != nil {
			return false
		}
		for _, m := range g.members {
			if tc.up(m.node) && !m.caughtUp {
				return false
			}
		}
	}
	for _, n := range tc.nodes {
		if n.state == Starting || n.state == Stopping {
			return false
		}
	}
	return true
}

func (tc *testCluster) leader(group string) string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	return tc.groups[group].leader
}

func (tc *testCluster) count(event, group string) int { return Count(tc.Events(), event, group) }

func has(event, group, node string) func([]Event) bool {
	return func(ev []Event) bool { return len(Filter(ev, event, group, node)) > 0 }
}

// get fetches path from node and decodes JSON into v (if not nil); returns status and body.
func (tc *testCluster) get(node, path string, v any) (int, http.Header, []byte) {
	return tc.do(http.MethodGet, node, path, nil, v)
}

func (tc *testCluster) do(method, node, path string, body any, v any) (int, http.Header, []byte) {
	tc.t.Helper()
	url := tc.Node(node).URL()
	if url == "" {
		tc.t.Fatalf("%s is not serving", node)
	}
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, url+path, rd)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if tok := tc.topo.AccessToken; tok != "" {
		req.Header.Set("AxonIQ-Access-Token", tok)
	}
	resp, err := tc.HTTPClient().Do(req)
	if err != nil {
		tc.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if v != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(b, v); err != nil {
			tc.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, resp.Header, b
}

func threeNodes(extra string) string {
	return `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: default
    contexts: [default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
` + fastTiming + extra
}

func trimLines(s string) string { return strings.TrimSpace(s) }
