package axonserver

import (
	"encoding/json"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// fastTargets are the types decodeJSON has a fast decoder for, each with a fresh value.
var fastTargets = map[string]func() any{
	"[]RaftStatus":       func() any { return new([]RaftStatus) },
	"[]ReplicationGroup": func() any { return new([]ReplicationGroup) },
	"[]Context":          func() any { return new([]Context) },
	"NodeInfo":           func() any { return new(NodeInfo) },
}

// fastTaken decodes doc into a fresh value of each fast type with the fast
// decoder alone; the result is nil where it gave up.
func fastTaken(doc []byte, target string) any {
	s := &scan{b: doc}
	var v any
	switch target {
	case "[]RaftStatus":
		x := s.raftStatuses()
		v = &x
	case "[]ReplicationGroup":
		x := s.replicationGroups()
		v = &x
	case "[]Context":
		x := s.contexts()
		v = &x
	case "NodeInfo":
		x := s.nodeInfo()
		v = &x
	}
	s.ws()
	if s.bad || s.i != len(s.b) {
		return nil
	}
	return v
}

// checkSame fails when the fast decoder took doc for target but encoding/json
// refuses it or decodes something else.
func checkSame(t *testing.T, doc []byte, target string) bool {
	t.Helper()
	fast := fastTaken(doc, target)
	if fast == nil {
		return false
	}
	std := fastTargets[target]()
	if err := json.Unmarshal(doc, std); err != nil {
		t.Fatalf("%s: fast decoder took %q, encoding/json says %v", target, doc, err)
	}
	if !reflect.DeepEqual(fast, std) {
		t.Fatalf("%s: %q:\nfast %#v\nstd  %#v", target, doc, fast, std)
	}
	return true
}

// TestFastDecodersTakeTheRecordedShapes: every recorded answer of the shapes with
// a fast decoder is taken by it, and decodes as encoding/json decodes it.
func TestFastDecodersTakeTheRecordedShapes(t *testing.T) {
	want := map[string]string{"raft-status.json": "[]RaftStatus", "replicationgroups.json": "[]ReplicationGroup",
		"context.json": "[]Context", "me.json": "NodeInfo"}
	taken := 0
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		doc, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for target := range fastTargets {
			ok := checkSame(t, doc, target)
			if want[d.Name()] == target && !ok {
				t.Errorf("%s: the fast decoder gave up on it", path)
			}
			if ok {
				taken++
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if taken < 5 {
		t.Errorf("the fast decoders took only %d documents", taken)
	}
}

// fastCases are documents at the edges of what the fast decoders take.
var fastCases = []string{
	`null`, `[]`, `[null]`, ` [ ] `, `{}`, `[{}]`, `"x"`, `[1]`, `[{"x":1}]x`, `[{}] `, `[{},]`, `[{"a":1,}]`,
	`[{"replicationGroup":"g","context":"c"}]`, `[{"context":"c"}]`, `[{"context":"c","replicationGroup":""}]`,
	`[{"Context":"c"}]`, `[{"REPLICATIONGROUP":"g"}]`, `[{"commitIndex":1,"commitIndex":2}]`,
	`[{"commitIndex":1.0}]`, `[{"commitIndex":1e3}]`, `[{"commitIndex":-0}]`, `[{"commitIndex":01}]`,
	`[{"commitIndex":9223372036854775807}]`, `[{"commitIndex":9223372036854775808}]`, `[{"commitIndex":"1"}]`,
	`[{"commitIndex":null,"isLeader":null,"nodeId":null,"configuration":null}]`, `[{"configuration":[]}]`,
	`[{"configuration":[null,{"port":8224,"id":"a"}]}]`, `[{"nodeId":"a\"b"}]`, `[{"nodeId":"é"}]`,
	`[{"nodeId":"a\u0041"}]`, `[{"extra":{"deep":[1,2.5e-3,true,false,null,"s\\\"\u00e9"]},"isLeader":true}]`,
	`[{"extra":[1,]}]`, `[{"extra":tru}]`, `[{"extra":"\x"}]`, `[{"extra":-}]`, `[{"extra":1.}]`, `[{"isLeader":1}]`,
	`[{"name":"g","leader":null,"roles":[{"node":"a","role":"PRIMARY"}],"contexts":[{"context":"c","metaData":{}}]}]`,
	`[{"contexts":[{"metaData":{"k":"v","k2":""}}]}]`, `[{"contexts":[{"metaData":{"k":1}}]}]`,
	`[{"contexts":[{"metaData":{"k":null}}]}]`, `[{"contexts":[{"metaData":null,"nodes":["a",null]}]}]`,
	`[{"contexts":[{"nodes":[]}]}]`, `[{"roles":null,"Roles":[]}]`, `[{"pendingSince":12,"changePending":true}]`,
	`{"name":"n","contextNames":["a","b"],"storageContextNames":[],"pluginsEnabled":null,"initialized":true,"httpPort":8024}`,
	`{"name":"n","NAME":"m"}`, `{"pluginsEnabled":false}`, `{"grpcPort":1.5}`, `{"adminNode":true,"unknown":{"a":[]}}`,
	"[{\"nodeId\":\"a\tb\"}]", "\t[\n{\r\n\"nodeId\" : \"a\" }\n]\n",
}

// TestFastDecodersAgreeWithEncodingJSON: on every edge case, what the fast
// decoders take decodes as encoding/json decodes it.
func TestFastDecodersAgreeWithEncodingJSON(t *testing.T) {
	for _, doc := range fastCases {
		for target := range fastTargets {
			checkSame(t, []byte(doc), target)
		}
	}
}

// TestDecodeJSONFallsBack: a document the fast decoder gives up on is decoded, or
// refused, by encoding/json with its own words.
func TestDecodeJSONFallsBack(t *testing.T) {
	var rs []RaftStatus
	if err := decodeJSON([]byte(`[{"nodeId":"a\u0041","Context":"c"}]`), &rs); err != nil || rs[0].NodeID != "aA" || rs[0].ReplicationGroup != "c" {
		t.Fatalf("%+v, %v", rs, err)
	}
	bad := []byte(`[{"commitIndex":"1"}]`)
	err, want := decodeJSON(bad, &rs), json.Unmarshal(bad, &rs)
	if err == nil || err.Error() != want.Error() {
		t.Fatalf("%v, want %v", err, want)
	}
}

// FuzzFastDecoders checks on any document that what the fast decoders take
// decodes as encoding/json decodes it.
func FuzzFastDecoders(f *testing.F) {
	for _, doc := range fastCases {
		f.Add([]byte(doc))
	}
	_ = filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.HasSuffix(path, ".json") {
			if doc, err := os.ReadFile(path); err == nil {
				f.Add(doc)
			}
		}
		return nil
	})
	f.Fuzz(func(t *testing.T, doc []byte) {
		for target := range fastTargets {
			checkSame(t, doc, target)
		}
	})
}

// TestDetailValueAsEncodingJSON: a health detail decodes as encoding/json decodes
// it into an any.
func TestDetailValueAsEncodingJSON(t *testing.T) {
	for _, v := range []string{`"UP"`, `""`, `"a\"b"`, `"\u00e9"`, `"é"`, `true`, `false`, `null`, `0`, `-1.5e3`,
		`53687091200`, `{"a":1}`, `[1,"x"]`, `{}`, `[]`} {
		got, err := detailValue(json.RawMessage(v))
		var want any
		if werr := json.Unmarshal([]byte(v), &want); err != nil || werr != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v, %v; want %#v, %v", v, got, err, want, werr)
		}
	}
}

// TestHealthShapesDecodeAsBefore: both health shapes, and details that only look
// like components, decode to the same Health as through the generic path.
func TestHealthShapesDecodeAsBefore(t *testing.T) {
	for _, doc := range []string{
		`{"status":"UP","components":{"raft":{"status":"UP","details":{"g.leader":"a","g.follower.b.status":"UP","n":3}}}}`,
		`{"status":"UP","details":{"raft":{"status":"UP","details":{"g.leader":"a"}},"diskSpace":{"status":"UP","details":{"free":1}}}}`,
		`{"status":"UP","details":{"raft":{"status":"UP"},"x":"y"}}`,
		`{"status":"UP","details":{"raft":{"status":null}}}`,
		`{"status":"UP","details":{"raft":{"STATUS":"UP"}}}`,
		`{"status":"UP","details":{"raft":"UP"}}`,
	} {
		var h Health
		if err := json.Unmarshal([]byte(doc), &h); err != nil {
			t.Fatalf("%s: %v", doc, err)
		}
		want := healthTree(t, []byte(doc))
		if !reflect.DeepEqual(&h, want) {
			t.Errorf("%s:\ngot  %#v\nwant %#v", doc, h, want)
		}
	}
}

// healthTree decodes doc the generic way: every detail through encoding/json,
// every value probed for a status.
func healthTree(t *testing.T, doc []byte) *Health {
	var raw struct {
		Status     string                     `json:"status"`
		Components map[string]json.RawMessage `json:"components"`
		Details    map[string]json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(doc, &raw); err != nil {
		t.Fatal(err)
	}
	h := &Health{Status: raw.Status}
	comps, details := raw.Components, raw.Details
	if comps == nil && len(details) > 0 {
		all := true
		for _, v := range details {
			var probe struct {
				Status *string `json:"status"`
			}
			if json.Unmarshal(v, &probe) != nil || probe.Status == nil {
				all = false
			}
		}
		if all {
			comps, details = details, nil
		}
	}
	for k, c := range comps {
		if h.Components == nil {
			h.Components = map[string]*Health{}
		}
		h.Components[k] = healthTree(t, c)
	}
	for k, v := range details {
		if h.Details == nil {
			h.Details = map[string]any{}
		}
		var x any
		if err := json.Unmarshal(v, &x); err != nil {
			t.Fatal(err)
		}
		h.Details[k] = x
	}
	return h
}
