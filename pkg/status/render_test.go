package status

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

var nodeHeaders = []string{"NODE", "POD", "STATUS", "READY", "RESTARTS", "VERSION", "WORKER", "ZONE", "AXON", "GROUPS", "LEADS", "SAFE TO STOP"}

func render(t *testing.T, r *Report, format string) string {
	t.Helper()
	var b bytes.Buffer
	if err := Write(&b, r, format); err != nil {
		t.Fatalf("Write(%q): %v", format, err)
	}
	return b.String()
}

// tableOf splits a table printout into its title, node table, group table and warnings.
type printout struct {
	title           string
	nodes, groups   []string // header first
	warnings        []string // without the "  - " bullet
	warningsSection bool
}

func parse(t *testing.T, out string) printout {
	t.Helper()
	blocks := strings.Split(strings.TrimRight(out, "\n"), "\n\n")
	var p printout
	p.title = blocks[0]
	if strings.Contains(p.title, "\n") {
		t.Fatalf("title is not one line: %q", p.title)
	}
	for _, b := range blocks[1:] {
		ls := strings.Split(b, "\n")
		switch {
		case strings.HasPrefix(ls[0], "NODE "):
			p.nodes = ls
		case strings.HasPrefix(ls[0], "REPLICATION GROUP "):
			p.groups = ls
		case ls[0] == "Warnings:":
			p.warningsSection = true
			for _, l := range ls[1:] {
				if !strings.HasPrefix(l, "  - ") {
					t.Errorf("warning line %q has no bullet", l)
				}
				p.warnings = append(p.warnings, strings.TrimPrefix(l, "  - "))
			}
		default:
			t.Errorf("unexpected block %q", b)
		}
	}
	return p
}

// cell returns the text of row under header's column named col (columns are aligned).
func cell(t *testing.T, header, row, col string, next string) string {
	t.Helper()
	i := strings.Index(header, col)
	if i < 0 {
		t.Fatalf("no column %q in %q", col, header)
	}
	if len(row) <= i {
		return ""
	}
	end := len(row)
	if next != "" {
		end = min(strings.Index(header, next), len(row))
	}
	return strings.TrimSpace(row[i:end])
}

func TestWriteTable(t *testing.T) {
	behind := newFx(3).group("_admin", 1, "1", "2", "3").group("default", 2, "1", "2", "3:MO").
		follower(node(2), "default", node(1), "BEHIND").
		with(func(f *fx) {
			f.obs.Groups[1].ChangePending = true
			f.members[2].Pod.Labels["controller-revision-hash"] = "old"
		})
	tests := []struct {
		name     string
		in       Input
		format   string
		title    string
		rows     map[string]map[string]string // node → column → cell
		groups   map[string]map[string]string // group → column → cell
		warnings []string
	}{
		{
			name:  "healthy",
			in:    newFx(3).group("_admin", 1, "1", "2", "3").group("default", 2, "1", "2", "3").input(),
			title: "Cluster axon in namespace axon: HEALTHY (Axon Server EE, 3 nodes, 2 replication groups)",
			rows: map[string]map[string]string{
				"axonserver-1": {"POD": "axonserver-1-0", "STATUS": "Running", "READY": "1/1", "RESTARTS": "0", "VERSION": "2024.2.1",
					"WORKER": "w1", "ZONE": "z1", "AXON": "connected", "GROUPS": "2", "LEADS": "_admin", "SAFE TO STOP": "yes"},
				"axonserver-2": {"RESTARTS": "1", "ZONE": "z2", "LEADS": "default", "SAFE TO STOP": "yes"},
				"axonserver-3": {"ZONE": "z0", "LEADS": "-", "SAFE TO STOP": "yes"},
			},
			groups: map[string]map[string]string{
				"_admin":  {"LEADER": "axonserver-1", "MEMBERS": "axonserver-1:P* axonserver-2:P axonserver-3:P", "CAN COMMIT": "yes", "TOLERATES": "1", "BEHIND": "-", "CONTEXTS": "1"},
				"default": {"LEADER": "axonserver-2", "CAN COMMIT": "yes", "TOLERATES": "1"},
			},
		},
		{
			name: "a node leading many groups: the first three and how many more",
			in: newFx(3).group("_admin", 1, "1", "2", "3").group("g1", 1, "1", "2", "3").group("g2", 1, "1", "2", "3").
				group("g3", 1, "1", "2", "3").group("g4", 1, "1", "2", "3").input(),
			title: "Cluster axon in namespace axon: HEALTHY (Axon Server EE, 3 nodes, 5 replication groups)",
			rows:  map[string]map[string]string{"axonserver-1": {"LEADS": "_admin,g1,g2 + 2 more..."}},
		},
		{
			name: "a node leading many groups, wide: every one",
			in: newFx(3).group("_admin", 1, "1", "2", "3").group("g1", 1, "1", "2", "3").group("g2", 1, "1", "2", "3").
				group("g3", 1, "1", "2", "3").group("g4", 1, "1", "2", "3").input(),
			format: FormatWide,
			title:  "Cluster axon in namespace axon: HEALTHY (Axon Server EE, 3 nodes, 5 replication groups)",
			rows:   map[string]map[string]string{"axonserver-1": {"LEADS": "_admin,g1,g2,g3,g4"}},
		},
		{
			name: "a node down: the others hold up many groups",
			in: newFx(3).group("_admin", 1, "1", "2", "3").group("g1", 1, "1", "2", "3").group("g2", 1, "1", "2", "3").
				group("g3", 1, "1", "2", "3").group("g4", 1, "1", "2", "3").stop(3).input(),
			title:    "Cluster axon in namespace axon: NOT HEALTHY (Axon Server EE, 3 nodes, 5 replication groups)",
			rows:     map[string]map[string]string{"axonserver-2": {"SAFE TO STOP": "no (_admin,g1,g2 + 2 more...)"}},
			warnings: []string{"axonserver-3: no pod"},
		},
		{
			name: "a node down, wide: every group it holds up",
			in: newFx(3).group("_admin", 1, "1", "2", "3").group("g1", 1, "1", "2", "3").group("g2", 1, "1", "2", "3").
				group("g3", 1, "1", "2", "3").group("g4", 1, "1", "2", "3").stop(3).input(),
			format:   FormatWide,
			title:    "Cluster axon in namespace axon: NOT HEALTHY (Axon Server EE, 3 nodes, 5 replication groups)",
			rows:     map[string]map[string]string{"axonserver-2": {"SAFE TO STOP": "no (_admin,g1,g2,g3,g4)"}},
			warnings: []string{"axonserver-3: no pod"},
		},
		{
			name:  "two nodes down",
			in:    newFx(3).group("_admin", 1, "1", "2", "3").stop(2).stop(3).input(),
			title: "Cluster axon in namespace axon: NOT HEALTHY (Axon Server EE, 3 nodes, 1 replication groups)",
			rows: map[string]map[string]string{
				"axonserver-1": {"AXON": "connected", "SAFE TO STOP": "no (_admin)"},
				"axonserver-2": {"POD": "-", "STATUS": "-", "READY": "-", "VERSION": "-", "AXON": "unreachable", "SAFE TO STOP": "yes"},
			},
			groups: map[string]map[string]string{
				"_admin": {"MEMBERS": "axonserver-1:P* axonserver-2:P(down) axonserver-3:P(down)",
					"CAN COMMIT": "NO: only 1 of 3 PRIMARY members up and caught up (needs 2)", "TOLERATES": "-"},
			},
			warnings: []string{"axonserver-2: no pod", "axonserver-3: no pod"},
		},
		{
			name:  "behind, change pending, old revision, messaging-only",
			in:    behind.input(),
			title: "Cluster axon in namespace axon: NOT HEALTHY (Axon Server EE, 3 nodes, 2 replication groups)",
			rows: map[string]map[string]string{
				"axonserver-1": {"SAFE TO STOP": "no (default)"},
				"axonserver-2": {"SAFE TO STOP": "no (default)"},
				"axonserver-3": {"READY": "1/1 (old revision)", "SAFE TO STOP": "no (default)"},
			},
			groups: map[string]map[string]string{
				"default": {"MEMBERS": "axonserver-1:P(behind 500) axonserver-2:P* axonserver-3:MO",
					"CAN COMMIT": "NO: only 1 of 2 PRIMARY members up and caught up (needs 2)", "BEHIND": "axonserver-1"},
			},
			warnings: []string{"default: 2 PRIMARY members: an even number tolerates no more failures than 1; Axon advises an odd number"},
		},
		{
			name: "SE",
			in: newFx(1).with(func(f *fx) {
				f.obs.Clustered = false
			}).input(),
			title:    "Cluster axon in namespace axon: HEALTHY (Axon Server SE, 1 nodes, 0 replication groups)",
			rows:     map[string]map[string]string{"axonserver-1": {"GROUPS": "0", "LEADS": "-", "SAFE TO STOP": "yes"}},
			warnings: []string{"Axon Server SE (clustered: false): no replication groups; showing the node(s) only"},
		},
		{
			name: "Axon-only mode: no namespace, no pods",
			in: newFx(2).with(func(f *fx) {
				f.members, f.namespace = nil, ""
				f.obs.Nodes[node(1)].Me.AdminNode = false
			}).input(),
			title: "Cluster axon: HEALTHY (Axon Server EE, 2 nodes, 0 replication groups)",
			rows: map[string]map[string]string{
				"axonserver-1": {"POD": "-", "STATUS": "-", "READY": "-", "WORKER": "-", "ZONE": "-", "VERSION": "2024.2.1", "AXON": "connected"},
			},
		},
		{
			name:   "wide",
			in:     newFx(3).group("_admin", 1, "1", "2", "3").stop(3).input(),
			format: FormatWide,
			title:  "Cluster axon in namespace axon: NOT HEALTHY (Axon Server EE, 3 nodes, 1 replication groups)",
			rows: map[string]map[string]string{
				"axonserver-1": {"IMAGE": "axoniq/axonserver:2024.2.1-nonroot", "PROBLEMS": "-"},
				"axonserver-3": {"IMAGE": "axoniq/axonserver:2024.2.1-nonroot",
					"PROBLEMS": "pod not ready or not at the current revision; not connected to the cluster; not up in group _admin"},
			},
			warnings: []string{"axonserver-3: no pod"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := Build(tc.in)
			p := parse(t, render(t, r, tc.format))
			if p.title != tc.title {
				t.Errorf("title\n got %q\nwant %q", p.title, tc.title)
			}
			headers := nodeHeaders
			if tc.format == FormatWide {
				headers = append(append([]string{}, nodeHeaders...), "IMAGE", "PROBLEMS")
			}
			checkTable(t, p.nodes, headers, lines(r.Nodes, func(n NodeStatus) string { return n.Name }), tc.rows)
			if len(r.Groups) == 0 && p.groups != nil {
				t.Errorf("group table without groups: %q", p.groups)
			}
			if len(r.Groups) > 0 {
				checkTable(t, p.groups, []string{"REPLICATION GROUP", "LEADER", "MEMBERS", "CAN COMMIT", "TOLERATES", "BEHIND", "CONTEXTS"},
					lines(r.Groups, func(g GroupStatus) string { return g.Name }), tc.groups)
			}
			if p.warningsSection != (len(tc.warnings) > 0) || !reflect.DeepEqual(p.warnings, tc.warnings) {
				t.Errorf("warnings (section %v)\n got %q\nwant %q", p.warningsSection, p.warnings, tc.warnings)
			}
		})
	}
}

// checkTable checks the header, one row per key in order, and the cells asked for.
func checkTable(t *testing.T, table, headers, keys []string, want map[string]map[string]string) {
	t.Helper()
	if len(table) != len(keys)+1 {
		t.Fatalf("table has %d lines, want a header and %d rows:\n%s", len(table), len(keys), strings.Join(table, "\n"))
	}
	header := table[0]
	at := -1
	for _, h := range headers {
		i := strings.Index(header, h)
		if i <= at {
			t.Fatalf("header %q: %q missing or out of order", header, h)
		}
		at = i
	}
	for i, k := range keys {
		row := table[i+1]
		if got := strings.Fields(row)[0]; got != k {
			t.Errorf("row %d starts with %q, want %q", i, got, k)
		}
		for col, v := range want[k] {
			next := ""
			for j, h := range headers {
				if h == col && j+1 < len(headers) {
					next = headers[j+1]
				}
			}
			if got := cell(t, header, row, col, next); got != v {
				t.Errorf("%s %s = %q, want %q\n%s\n%s", k, col, got, v, header, row)
			}
		}
	}
}

func TestWriteUnknownFormat(t *testing.T) {
	r := Build(newFx(1).input())
	err := Write(&bytes.Buffer{}, r, "xml")
	if err == nil || !strings.Contains(err.Error(), `unknown output format "xml"`) {
		t.Errorf("Write(xml) = %v", err)
	}
}

// TestWriteData: the JSON and YAML documents carry the documented field names and
// decode back into the same Report.
func TestWriteData(t *testing.T) {
	reports := map[string]*Report{
		"EE, a node down": Build(newFx(3).group("_admin", 1, "1", "2", "3").group("default", 1, "1", "2", "3:AB").stop(3).input()),
		"SE":              Build(newFx(1).with(func(f *fx) { f.obs.Clustered = false }).input()),
	}
	unmarshal := map[string]func([]byte, any) error{
		FormatJSON: json.Unmarshal,
		FormatYAML: func(b []byte, v any) error { return yaml.Unmarshal(b, v) },
	}
	for name, r := range reports {
		for format, decode := range unmarshal {
			t.Run(name+"/"+format, func(t *testing.T) {
				out := []byte(render(t, r, format))
				if format == FormatJSON && !json.Valid(out) {
					t.Fatalf("not JSON:\n%s", out)
				}
				var back Report
				if err := decode(out, &back); err != nil {
					t.Fatalf("decoding: %v\n%s", err, out)
				}
				if !reflect.DeepEqual(&back, r) {
					t.Errorf("round trip differs:\n got %+v\nwant %+v", back, *r)
				}
				var doc map[string]any
				if err := decode(out, &doc); err != nil {
					t.Fatal(err)
				}
				checkSchema(t, doc, len(r.Groups) > 0)
			})
		}
	}
}

// checkSchema checks the fields docs/status-schema.md promises, by name and JSON type.
func checkSchema(t *testing.T, doc map[string]any, withGroups bool) {
	t.Helper()
	has := func(where string, m map[string]any, fields map[string]string) {
		t.Helper()
		for f, typ := range fields {
			v, ok := m[f]
			if !ok {
				t.Errorf("%s: no field %q in %v", where, f, keys(m))
				continue
			}
			if got := jsonType(v); got != typ {
				t.Errorf("%s.%s is %s (%v), want %s", where, f, got, v, typ)
			}
		}
	}
	has("report", doc, map[string]string{"kind": "string", "schemaVersion": "number", "cluster": "string", "namespace": "string",
		"observedAt": "string", "edition": "string", "healthy": "bool", "nodes": "array", "groups": "array", "warnings": "array"})
	for _, n := range asArray(doc["nodes"]) {
		has("nodes[]", n, map[string]string{"name": "string", "statefulSet": "string", "ready": "bool", "reachable": "bool",
			"connected": "bool", "healthy": "bool", "safeToStop": "bool", "groups": "array", "leads": "array",
			"problems": "array", "blockedBy": "array", "currentRevision": "bool", "restarts": "number", "admin": "bool"})
		if n["ready"] == true {
			has("nodes[]", n, map[string]string{"pod": "string"})
		}
	}
	groups := asArray(doc["groups"])
	if withGroups && len(groups) == 0 {
		t.Error("no groups")
	}
	for _, g := range groups {
		has("groups[]", g, map[string]string{"name": "string", "leader": "string", "canCommit": "bool", "faultTolerance": "number",
			"members": "array", "behind": "array", "contexts": "number", "changePending": "bool", "warnings": "array"})
		for _, m := range asArray(g["members"]) {
			has("groups[].members[]", m, map[string]string{"node": "string", "role": "string", "up": "bool", "caughtUp": "bool",
				"status": "string", "behind": "number"})
		}
	}
}

func jsonType(v any) string {
	switch v.(type) {
	case string:
		return "string"
	case bool:
		return "bool"
	case float64, int64, int:
		return "number"
	case []any:
		return "array"
	case map[string]any:
		return "object"
	case nil:
		return "null"
	}
	return "other"
}

func asArray(v any) []map[string]any {
	xs, _ := v.([]any) // a null is reported by has
	var out []map[string]any
	for _, x := range xs {
		out = append(out, x.(map[string]any))
	}
	return out
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}
