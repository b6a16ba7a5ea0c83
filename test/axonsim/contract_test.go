package axonsim

import (
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/shapes from pkg/axonserver/testdata fixtures")

// fixtureDir holds the plugin client's recorded answers (another package's testdata).
const fixtureDir = "../../pkg/axonserver/testdata"

// contractCase is one request of the contract: which node (and so which version) answers it.
type contractCase struct {
	shape  string // testdata/shapes/<shape>.json; also the fixture file name under fixtureDir
	node   string
	method string
	path   string
	status int
	code   string // AxonIQ-ErrorCode header expected ("" = none)
	text   bool   // plain-text body: compared literally by prefix, not as JSON
	// contains: a string the body must contain (version-specific content: error codes,
	// role names, property source names)
	contains string
}

var contractCases = []contractCase{
	{shape: "ee-4.4/public.json", node: "axonserver-1", method: "GET", path: "/v1/public", status: 200},
	{shape: "ee-4.4/me.json", node: "axonserver-1", method: "GET", path: "/v1/public/me", status: 200},
	{shape: "ee-4.5/me.json", node: "axonserver-2", method: "GET", path: "/v1/public/me", status: 200},
	{shape: "ee-2023/me.json", node: "axonserver-3", method: "GET", path: "/v1/public/me", status: 200},
	{shape: "ee-4.4/cluster.json", node: "axonserver-1", method: "GET", path: "/v1/cluster", status: 200},
	{shape: "ee-4.4/cluster-node.json", node: "axonserver-1", method: "GET", path: "/v1/cluster/axonserver-2", status: 200},
	{shape: "ee-4.4/cluster-node-unknown.txt", node: "axonserver-1", method: "GET", path: "/v1/cluster/axonserver-9", status: 404, code: "AXONIQ-1301", text: true},
	{shape: "ee-4.4/join-conflict.json", node: "axonserver-1", method: "POST", path: "/v1/cluster", status: 409},
	{shape: "ee-4.4/context.json", node: "axonserver-1", method: "GET", path: "/v1/public/context", status: 200},
	{shape: "ee-4.4/replicationgroups.json", node: "axonserver-1", method: "GET", path: "/v1/public/replicationgroups", status: 200},
	{shape: "ee-4.4/roles.json", node: "axonserver-1", method: "GET", path: "/v1/replicationgroups/roles", status: 200},
	{shape: "ee-4.4/rg-add-accepted.json", node: "axonserver-1", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=ACTIVE_BACKUP", status: 202},
	{shape: "ee-4.4/rg-update-pending.json", node: "axonserver-1", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", status: 400},
	{shape: "ee-4.4/rg-remove-accepted.json", node: "axonserver-1", method: "DELETE", path: "/v1/replicationgroups/stuck/axonserver-4?preserveEventStore=false", status: 202},
	// The last member is refused by the task, not the call: 202 (PrepareDeleteNodeFromContextTask).
	{shape: "ee-4.4/rg-remove-accepted.json", node: "axonserver-1", method: "DELETE", path: "/v1/replicationgroups/solo/axonserver-1?preserveEventStore=false", status: 202},
	{shape: "ee-4.4/tasks.json", node: "axonserver-1", method: "GET", path: "/v1/tasks", status: 200},
	{shape: "ee-4.4/raft-status.json", node: "axonserver-1", method: "GET", path: "/internal/raft/status", status: 200},
	{shape: "ee-4.4/info.json", node: "axonserver-1", method: "GET", path: "/actuator/info", status: 200},
	{shape: "ee-4.4/health-warn.json", node: "axonserver-1", method: "GET", path: "/actuator/health", status: 200},
	{shape: "ee-4.5/health-warn.json", node: "axonserver-2", method: "GET", path: "/actuator/health", status: 200},
	{shape: "ee-4.4/backup-log-filenames.json", node: "axonserver-1", method: "GET", path: "/v1/backup/log/filenames?context=default", status: 200},
	{shape: "ee-4.4/backup-filenames.json", node: "axonserver-1", method: "GET", path: "/v1/backup/filenames?context=default&type=EVENT&lastSegmentBackedUp=-1", status: 200},
	{shape: "ee-4.5/backup-eventstore.json", node: "axonserver-2", method: "GET", path: "/v1/backup/eventstore?targetContext=default&type=EVENT&lastClosedSegmentBackedUp=-1&lastClosedVersionBackedUp=-1", status: 200},
	{shape: "ee-4.4/controldb-backup.txt", node: "axonserver-1", method: "POST", path: "/v1/backup/createControlDbBackup", status: 200, text: true},

	// Per version: 4.4.2 (axonserver-1), 4.5.x (axonserver-2), 2023.2 (axonserver-3), 2025.2 (axonserver-5).
	{shape: "ee-4.4/rg-update-pending.json", node: "axonserver-1", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", status: 400, contains: "[AXONIQ-2102]"},
	{shape: "ee-4.5/rg-update-pending.json", node: "axonserver-2", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", status: 400, contains: "[AXONIQ-2107]"},
	{shape: "ee-4.5/rg-update-pending.json", node: "axonserver-3", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", status: 400, contains: "[AXONIQ-2107]"},
	{shape: "ee-4.5/rg-update-pending.json", node: "axonserver-5", method: "POST", path: "/v1/replicationgroups/default/axonserver-4?role=PRIMARY", status: 400, contains: "[AXONIQ-2107]"},
	{shape: "ee-4.4/rg-unknown-group.json", node: "axonserver-1", method: "POST", path: "/v1/replicationgroups/nope/axonserver-4", status: 404, contains: "[AXONIQ-1302]"},
	{shape: "ee-4.5/rg-unknown-group.json", node: "axonserver-2", method: "POST", path: "/v1/replicationgroups/nope/axonserver-4", status: 404, contains: "[AXONIQ-2108]"},
	{shape: "ee-4.5/rg-unknown-group.json", node: "axonserver-5", method: "POST", path: "/v1/replicationgroups/nope/axonserver-4", status: 404, contains: "[AXONIQ-2108]"},
	{shape: "ee-4.4/rg-add-accepted.json", node: "axonserver-3", method: "POST", path: "/v1/replicationgroups/_admin/axonserver-2?role=ACTIVE_BACKUP", status: 202, contains: "Started to add"},
	{shape: "ee-4.4/rg-remove-accepted.json", node: "axonserver-5", method: "DELETE", path: "/v1/replicationgroups/nope/axonserver-4", status: 202, contains: "Accepted delete request"},
	{shape: "ee-4.4/raft-status.json", node: "axonserver-2", method: "GET", path: "/internal/raft/status", status: 200, contains: `"replicationGroup":"_admin"`},
	{shape: "ee-4.4/raft-status.json", node: "axonserver-3", method: "GET", path: "/internal/raft/status", status: 200, contains: `"role":"PRIMARY"`},
	{shape: "ee-4.4/raft-status.json", node: "axonserver-5", method: "GET", path: "/internal/raft/status", status: 200, contains: `"role":"ANALYTICS"`},
	{shape: "ee-2023/tasks-failed.json", node: "axonserver-3", method: "GET", path: "/v1/tasks", status: 200, contains: "taskscheduler.task.DeleteNodeFromContextTask"},
	{shape: "ee-4.4/roles.json", node: "axonserver-3", method: "GET", path: "/v1/replicationgroups/roles", status: 200, contains: `"SECONDARY"`},
	{shape: "ee-4.4/roles.json", node: "axonserver-5", method: "GET", path: "/v1/replicationgroups/roles", status: 200, contains: `"ANALYTICS"`},
	{shape: "ee-4.5/health-warn.json", node: "axonserver-3", method: "GET", path: "/actuator/health", status: 200, contains: `"components"`},
	{shape: "ee-4.5/health-warn.json", node: "axonserver-5", method: "GET", path: "/actuator/health", status: 200, contains: `.follower.axonserver-3.status`},
	{shape: "ee-2023/env.json", node: "axonserver-1", method: "GET", path: "/actuator/env", status: 200, contains: "applicationConfig: [file:"},
	{shape: "ee-2023/env.json", node: "axonserver-3", method: "GET", path: "/actuator/env", status: 200, contains: "axoniq.axonserver.replication.min-active-backups"},
	{shape: "ee-2023/env.json", node: "axonserver-5", method: "GET", path: "/actuator/env", status: 200, contains: "Config resource 'file ["},
	{shape: "ee-2023/me.json", node: "axonserver-5", method: "GET", path: "/v1/public/me", status: 200},
}

// mapPaths are objects whose keys are data (names), not fields: only their values' shapes count.
var mapPaths = map[string]bool{
	"[].tags": true, "tags": true, "[].metaData": true, "[].contexts[].metaData": true,
	"details": true, "components": true, "details.*.details": true, "components.*.details": true,
	"propertySources[].properties": true,
}

// shapeOf reduces a JSON value to its shape: objects keep their keys, arrays merge their
// elements' shapes, scalars become their JSON type; null is "null".
func shapeOf(v any, path string) any {
	switch x := v.(type) {
	case map[string]any:
		if mapPaths[path] {
			var merged any
			for _, k := range sortedKeys(x) {
				merged = mergeShape(merged, shapeOf(x[k], path+".*"))
			}
			return map[string]any{"*": merged}
		}
		out := map[string]any{}
		for k, e := range x {
			p := k
			if path != "" {
				p = path + "." + k
			}
			out[k] = shapeOf(e, p)
		}
		return out
	case []any:
		var merged any
		for _, e := range x {
			merged = mergeShape(merged, shapeOf(e, path+"[]"))
		}
		return []any{merged}
	case string:
		return "string"
	case float64:
		return "number"
	case bool:
		return "boolean"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

// mergeShape unites two shapes; null gives way to any type, objects unite their keys.
func mergeShape(a, b any) any {
	if a == nil || a == "null" {
		return b
	}
	if b == nil || b == "null" {
		return a
	}
	am, aok := a.(map[string]any)
	bm, bok := b.(map[string]any)
	if aok && bok {
		out := map[string]any{}
		for k, v := range am {
			out[k] = v
		}
		for k, v := range bm {
			out[k] = mergeShape(out[k], v)
		}
		return out
	}
	aa, aok := a.([]any)
	ba, bok := b.([]any)
	if aok && bok {
		return []any{mergeShape(aa[0], ba[0])}
	}
	return a
}

// diffShape lists where got does not fit want: missing or extra keys, other types.
// null fits any type (a field that is null in one answer and set in another).
func diffShape(want, got any, path string) []string {
	if want == nil || got == nil || want == "null" || got == "null" {
		return nil
	}
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want object, got %v", path, got)}
		}
		var out []string
		for _, k := range sortedKeys(w) {
			if _, ok := g[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: missing", path, k))
				continue
			}
			out = append(out, diffShape(w[k], g[k], path+"."+k)...)
		}
		for _, k := range sortedKeys(g) {
			if _, ok := w[k]; !ok {
				out = append(out, fmt.Sprintf("%s.%s: unexpected", path, k))
			}
		}
		return out
	case []any:
		g, ok := got.([]any)
		if !ok {
			return []string{fmt.Sprintf("%s: want array, got %v", path, got)}
		}
		return diffShape(w[0], g[0], path+"[]")
	default:
		if want != got {
			return []string{fmt.Sprintf("%s: want %v, got %v", path, want, got)}
		}
	}
	return nil
}

func parseShape(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return shapeOf(v, "")
}

// loadShape reads a stored shape (already reduced by shapeOf).
func loadShape(t *testing.T, name string) any {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "shapes", name))
	must(t, err)
	var v any
	must(t, json.Unmarshal(b, &v))
	return v
}

func contractTopology() string {
	return `name: axonserver
image: axoniq/axonserver-enterprise:4.4.2-dev-nonroot
nodes: [{name: axonserver-1}, {name: axonserver-2, tags: {zone: b}}, {name: axonserver-3}, {name: axonserver-4}, {name: axonserver-5}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: default
    contexts: [default, orders]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: solo
    contexts: [solo]
    roles: {axonserver-1: PRIMARY}
  - name: stuck
    contexts: [stuck]
    roles: {axonserver-1: PRIMARY, axonserver-4: PRIMARY}
  - name: reports
    contexts: [reports]
    roles: {axonserver-5: PRIMARY, axonserver-3: ANALYTICS}
` + fastTiming
}

// TestContract checks every endpoint's answer against the shapes kept in testdata/shapes
// (derived from the EE source, see testdata/README.md): field names, JSON types, status
// codes, AxonIQ-ErrorCode headers, sort orders.
func TestContract(t *testing.T) {
	if *update {
		for _, cc := range contractCases {
			b, err := os.ReadFile(filepath.Join(fixtureDir, cc.shape))
			if err != nil {
				t.Fatal(err)
			}
			if !cc.text {
				s, _ := json.MarshalIndent(parseShape(t, b), "", "  ")
				b = append(s, '\n')
			}
			dst := filepath.Join("testdata", "shapes", cc.shape)
			must(t, os.MkdirAll(filepath.Dir(dst), 0o755))
			must(t, os.WriteFile(dst, b, 0o644))
		}
	}
	tc := newTestCluster(t, contractTopology())
	images := map[string]string{"axonserver-2": "axoniq/axonserver-enterprise:4.5.10-nonroot", "axonserver-3": "axoniq/axonserver:2023.2.0-nonroot",
		"axonserver-5": "axoniq/axonserver:2025.2.0-nonroot"}
	for _, n := range []string{"axonserver-1", "axonserver-2", "axonserver-3", "axonserver-5"} {
		_, err := tc.StartNode(n, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: n, Image: images[n]})
		must(t, err)
	}
	tc.waitFor("leaders", func([]Event) bool {
		return tc.leader("_admin") != "" && tc.leader("default") != "" && tc.leader("reports") == "axonserver-5"
	})
	for _, cc := range contractCases {
		t.Run(cc.shape+"@"+cc.node, func(t *testing.T) {
			var body any
			if cc.method == "POST" && cc.path == "/v1/cluster" {
				body = map[string]any{"internalHostName": "axonserver-2", "internalGrpcPort": 8224}
			}
			code, hdr, b := tc.do(cc.method, cc.node, cc.path, body, nil)
			if code != cc.status {
				t.Fatalf("status %d, want %d: %s", code, cc.status, b)
			}
			if got := hdr.Get("AxonIQ-ErrorCode"); got != cc.code {
				t.Errorf("AxonIQ-ErrorCode %q, want %q", got, cc.code)
			}
			if cc.contains != "" && !strings.Contains(string(b), cc.contains) {
				t.Errorf("answer does not contain %q: %s", cc.contains, b)
			}
			if cc.text {
				want, err := os.ReadFile(filepath.Join("testdata", "shapes", cc.shape))
				must(t, err)
				checkText(t, cc.shape, string(want), string(b))
				return
			}
			if d := diffShape(loadShape(t, cc.shape), parseShape(t, b), ""); len(d) > 0 {
				t.Errorf("shape differs from %s:\n  %s\nanswer: %s", cc.shape, strings.Join(d, "\n  "), b)
			}
			checkOrder(t, cc.path, b)
		})
	}
}

func checkText(t *testing.T, name, want, got string) {
	t.Helper()
	switch {
	case strings.HasPrefix(want, "[AXONIQ-"):
		if !strings.HasPrefix(got, want[:strings.Index(want, "]")+1]) {
			t.Errorf("%s: %q, want the prefix of %q", name, got, want)
		}
	case strings.Contains(want, "controldb"):
		if !strings.Contains(got, "/controldb") || !strings.HasSuffix(got, ".zip") || !fileExists(got) {
			t.Errorf("controldb backup path %q", got)
		}
	}
}

// checkOrder checks the sort orders the source applies.
func checkOrder(t *testing.T, path string, b []byte) {
	t.Helper()
	var arr []map[string]any
	if json.Unmarshal(b, &arr) != nil {
		return
	}
	key := map[string]string{"/v1/public": "name", "/v1/public/context": "context", "/v1/public/replicationgroups": "name", "/v1/cluster": "name"}[path]
	if key == "" {
		return
	}
	var vals []string
	for _, e := range arr {
		vals = append(vals, e[key].(string))
		if roles, ok := e["roles"].([]any); ok {
			var nodes []string
			for _, r := range roles {
				nodes = append(nodes, r.(map[string]any)["node"].(string))
			}
			if !sort.StringsAreSorted(nodes) {
				t.Errorf("%s: roles not sorted by node: %v", path, nodes)
			}
		}
	}
	if !sort.StringsAreSorted(vals) {
		t.Errorf("%s: not sorted by %s: %v", path, key, vals)
	}
}

// TestFixturesAgreeWithShapes checks the plugin client's recorded fixtures against the same
// shapes, so the simulator and the client's tests cannot drift apart unnoticed.
func TestFixturesAgreeWithShapes(t *testing.T) {
	if _, err := os.Stat(fixtureDir); err != nil {
		t.Skip("no client fixtures:", err)
	}
	for _, cc := range contractCases {
		if cc.text {
			continue
		}
		f, err := os.ReadFile(filepath.Join(fixtureDir, cc.shape))
		if err != nil {
			t.Errorf("%s: %v", cc.shape, err)
			continue
		}
		if d := diffShape(loadShape(t, cc.shape), parseShape(t, f), ""); len(d) > 0 {
			t.Errorf("fixture %s differs from the shape:\n  %s", cc.shape, strings.Join(d, "\n  "))
		}
	}
}

func TestAccessToken(t *testing.T) {
	tc := newTestCluster(t, threeNodes("accessToken: secret\n"))
	tc.start("axonserver-1")
	tc.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	url := tc.Node("axonserver-1").URL()
	get := func(path, token string) (*http.Response, string) {
		req, _ := http.NewRequest("GET", url+path, nil)
		if token != "" {
			req.Header.Set("AxonIQ-Access-Token", token)
		}
		resp, err := tc.HTTPClient().Do(req)
		must(t, err)
		defer resp.Body.Close()
		b := make([]byte, 512)
		n, _ := resp.Body.Read(b)
		return resp, string(b[:n])
	}
	if r, body := get("/v1/public/me", "wrong"); r.StatusCode != 403 || body != "Invalid token\n" {
		t.Fatalf("invalid token: %d %q", r.StatusCode, body)
	}
	if r, _ := get("/internal/raft/status", ""); r.StatusCode != 403 {
		t.Fatalf("no token: %d", r.StatusCode)
	}
	if r, _ := get("/v1/public/me", "secret"); r.StatusCode != 200 {
		t.Fatalf("good token: %d", r.StatusCode)
	}
	if r, _ := get("/actuator/info", ""); r.StatusCode != 200 {
		t.Fatalf("actuator must stay open: %d", r.StatusCode)
	}
	var me JSONMe
	tc.get("axonserver-1", "/v1/public/me", &me)
	if !me.Authentication {
		t.Fatal("authentication false")
	}
}

func TestTLS(t *testing.T) {
	tc := newTestCluster(t, threeNodes("tls: true\n"))
	pem := tc.CACertPEM()
	if !strings.Contains(string(pem), "BEGIN CERTIFICATE") {
		t.Fatalf("CA PEM: %q", pem)
	}
	tc.start("axonserver-1")
	tc.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	if u := tc.Node("axonserver-1").URL(); !strings.HasPrefix(u, "https://") {
		t.Fatalf("url %q", u)
	}
	var me JSONMe
	tc.get("axonserver-1", "/v1/public/me", &me) // verifies the chain against the CA and the IP SAN
	if !me.SSL {
		t.Fatal("ssl false")
	}
	if _, err := http.Get(tc.Node("axonserver-1").URL() + "/actuator/info"); err == nil {
		t.Fatal("an untrusted client must fail the handshake")
	}
}

func TestFaults(t *testing.T) {
	tc := newTestCluster(t, threeNodes(`faults:
  - {node: axonserver-1, image: "*:2025.0.0*", neverReady: true}
  - {node: axonserver-2, restErrorRate: 1}
  - {node: axonserver-3, shutdownSeconds: 30, crashAfterSeconds: 0.3}
`))
	_, err := tc.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", Image: "axoniq/axonserver:2025.0.0-nonroot"})
	must(t, err)
	tc.start("axonserver-2")
	tc.start("axonserver-3")
	tc.waitFor("2 and 3 ready", func(ev []Event) bool {
		return CountNode(ev, EvNodeReady, "axonserver-2") == 1 && CountNode(ev, EvNodeReady, "axonserver-3") == 1
	})
	if s := tc.Node("axonserver-1").State(); s != Starting {
		t.Fatalf("neverReady node is %v", s)
	}
	if code, _, _ := tc.get("axonserver-2", "/v1/public/me", nil); code != 503 {
		t.Fatalf("restErrorRate 1: %d", code)
	}
	if code, _, _ := tc.get("axonserver-2", "/actuator/info", nil); code != 200 {
		t.Fatalf("actuator under restErrorRate: %d", code)
	}
	tc.waitFor("crash", has(EvNodeKilled, "", "axonserver-3"))
	// A clean stop slower than the grace period ends in a kill at the grace period.
	tc.start("axonserver-3")
	tc.waitFor("ready again", func(ev []Event) bool { return CountNode(ev, EvNodeReady, "axonserver-3") == 2 })
	start := time.Now()
	must(t, tc.StopNode("axonserver-3", 100*time.Millisecond))
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("stop took %v", d)
	}
	ev := Filter(tc.Events(), "", "", "axonserver-3")
	if last := ev[len(ev)-1]; last.Event != EvNodeKilled || !strings.Contains(last.Reason, "grace") {
		t.Fatalf("last event %+v", last)
	}
	// The unclean shutdown is remembered in the data directory: the next start takes longer.
	must(t, tc.StopNode("axonserver-1", time.Second))
}
