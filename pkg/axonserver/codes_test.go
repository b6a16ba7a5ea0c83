package axonserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
)

// serve answers every request with status, the AxonIQ-ErrorCode header (when code is
// not "") and body.
func serve(t *testing.T, status int, code, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if code != "" {
			w.Header().Set("AxonIQ-ErrorCode", code)
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	return newClient(t, srv.URL)
}

func TestErrorCodesByVersion(t *testing.T) {
	cases := []struct {
		name             string
		status           int
		code, body       string
		inProgress, none bool
		explain          bool
	}{
		{"4.4 update pending", 400, "AXONIQ-2102", `"[AXONIQ-2102] default: Another update is pending"`, true, false, true},
		{"4.5+ update in progress", 400, "AXONIQ-2107", `"[AXONIQ-2107] default: update in progress"`, true, false, true},
		{"code only in the body", 400, "", `"[AXONIQ-2107] default: update in progress"`, true, false, true},
		{"4.5+ group not found", 404, "AXONIQ-2108", `"[AXONIQ-2108] Replication group orders not found"`, false, true, true},
		{"4.4 context not found", 404, "AXONIQ-1302", `"[AXONIQ-1302] orders not found"`, false, true, true},
		{"no leader", 404, "AXONIQ-2100", `"[AXONIQ-2100] no leader"`, false, false, true},
		{"other", 500, "AXONIQ-0001", `"[AXONIQ-0001] boom"`, false, false, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := serve(t, tc.status, tc.code, tc.body)
			_, err := c.AddNodeToReplicationGroup(ctx, "orders", "axonserver-2", RolePrimary)
			if err == nil {
				t.Fatal("no error")
			}
			if got := IsUpdateInProgress(err); got != tc.inProgress {
				t.Errorf("IsUpdateInProgress(%v) = %v", err, got)
			}
			if got := IsGroupNotFound(err); got != tc.none {
				t.Errorf("IsGroupNotFound(%v) = %v", err, got)
			}
			if got := Explain(err) != ""; got != tc.explain {
				t.Errorf("Explain(%v) = %q", err, Explain(err))
			}
		})
	}
	if Explain(nil) != "" || IsUpdateInProgress(nil) {
		t.Error("nil error explained")
	}
}

func TestRaftStatusShapes(t *testing.T) {
	cases := []struct{ name, body, group string }{
		{"4.4+ replicationGroup", `[{"nodeId":"n1","replicationGroup":"orders","currentTerm":3,"configuration":[{"id":"n1","name":"axonserver-1","host":"axonserver-1.ns","port":8224,"role":"PRIMARY"},{"id":"n2","name":"axonserver-2","host":"axonserver-2.ns","port":8224,"role":"ANALYTICS"}]}]`, "orders"},
		{"older context", `[{"nodeId":"n1","context":"orders","currentTerm":3,"configuration":[{"id":"n1","host":"axonserver-1.ns","port":8224}]}]`, "orders"},
		{"both: replicationGroup wins", `[{"nodeId":"n1","context":"x","replicationGroup":"orders","currentTerm":3,"configuration":[]}]`, "orders"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			rs, err := serve(t, 200, "", tc.body).RaftStatus(ctx)
			if err != nil || len(rs) != 1 || rs[0].ReplicationGroup != tc.group || rs[0].CurrentTerm != 3 {
				t.Fatalf("RaftStatus = %+v, %v", rs, err)
			}
			if tc.name == "4.4+ replicationGroup" {
				m := rs[0].Configuration[1]
				if m.ID != "n2" || m.Name != "axonserver-2" || m.Host != "axonserver-2.ns" || m.Port != 8224 || m.Role != RoleAnalytics {
					t.Errorf("configuration entry = %+v", m)
				}
			}
		})
	}
}

func TestEnv(t *testing.T) {
	const body = `{"activeProfiles":[],"propertySources":[
	  {"name":"server.ports","properties":{"local.server.port":{"value":8024}}},
	  {"name":"systemEnvironment","properties":{"AXONIQ_AXONSERVER_REPLICATION_MIN_ACTIVE_BACKUPS":{"value":"2","origin":"System Environment Property"}}},
	  {"name":"Config resource 'file [axonserver.properties]'","properties":{
	     "axoniq.axonserver.replication.min-active-backups":{"value":"1","origin":"axonserver.properties:3:1"},
	     "axoniq.axonserver.autocluster.first":{"value":"axonserver-1.axon.svc.cluster.local"},
	     "axoniq.axonserver.accesscontrol.enabled":{"value":true},
	     "axoniq.axonserver.accesscontrol.token":{"value":"******"}}}]}`
	env, err := serve(t, 200, "", body).Env(ctx)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ key, want, source string }{
		{"axoniq.axonserver.replication.min-active-backups", "2", "systemEnvironment"},
		{"axoniq.axonserver.autocluster.first", "axonserver-1.axon.svc.cluster.local", "Config resource 'file [axonserver.properties]'"},
		{"axoniq.axonserver.accesscontrol.enabled", "true", "Config resource 'file [axonserver.properties]'"},
		{"local.server.port", "8024", "server.ports"},
	}
	for _, tc := range cases {
		v, src, ok := env.Property(tc.key)
		if !ok || v != tc.want || src != tc.source {
			t.Errorf("Property(%s) = %q, %q, %v; want %q from %q", tc.key, v, src, ok, tc.want, tc.source)
		}
	}
	if _, _, ok := env.Property("axoniq.axonserver.autocluster.contexts"); ok {
		t.Error("absent property found")
	}
	if _, err := serve(t, 404, "", `{"status":404,"error":"Not Found"}`).Env(ctx); !IsNotFound(err) {
		t.Errorf("unexposed env: %v", err)
	}
}

func TestTaskPayload(t *testing.T) {
	body := `[{"taskId":"1","taskExecutor":"io.axoniq.axonserver.enterprise.taskscheduler.task.PrepareDeleteNodeFromContextTask",
	  "payload":{"type":"io.axoniq.axonserver.enterprise.taskscheduler.task.NodeContext","data":"eyJub2RlIjoiYXhvbnNlcnZlci0yIiwiY29udGV4dCI6Im9yZGVycyIsInByZXNlcnZlRXZlbnRTdG9yZSI6ZmFsc2V9"},
	  "timestamp":1,"status":"SCHEDULED","retryInterval":10,"context":"_admin","message":null},
	 {"taskId":"2","taskExecutor":"io.axoniq.axonserver.enterprise.taskscheduler.task.UnregisterNodeTask",
	  "payload":{"type":"java.lang.String","data":"ImF4b25zZXJ2ZXItMiI="},"status":"FAILED","context":"_admin","message":"boom"},
	 {"taskId":"3","taskExecutor":"Other","payload":{"type":"x","data":"bm90IGpzb24="},"status":"SCHEDULED"}]`
	ts, err := serve(t, 200, "", body).Tasks(ctx)
	if err != nil || len(ts) != 3 {
		t.Fatalf("Tasks = %+v, %v", ts, err)
	}
	if n, g, ok := ts[0].NodeContext(); !ok || n != "axonserver-2" || g != "orders" || ts[0].Executor() != TaskPrepareDeleteNode {
		t.Errorf("task 1: %s %s %v %s", n, g, ok, ts[0].Executor())
	}
	if n, g, ok := ts[1].NodeContext(); !ok || n != "axonserver-2" || g != "" || ts[1].Executor() != TaskUnregisterNode || ts[1].Status != TaskStatusFailed {
		t.Errorf("task 2: %s %s %v", n, g, ok)
	}
	if _, _, ok := ts[2].NodeContext(); ok || ts[2].Executor() != "Other" {
		t.Error("task 3 has no node")
	}
}

func TestIsTransient(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&Error{StatusCode: 503}, true},
		{&Error{StatusCode: 502}, true},
		{&Error{StatusCode: 504}, true},
		{&Error{StatusCode: 429}, true},
		{fmt.Errorf("wrapped: %w", &Error{Err: ErrUnreachable}), true},
		{&Error{StatusCode: 500}, false},
		{&Error{StatusCode: 400, Code: CodeUpdateInProgress}, false},
		{&Error{StatusCode: 404}, false},
		{&Error{Err: ErrTLS}, false},
		{errors.New("plain"), false},
	} {
		if got := IsTransient(tc.err); got != tc.want {
			t.Errorf("IsTransient(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

// TestGetAsksAgainWhenBusy: a GET answered 503 by the node is asked again (a flaky
// moment must not make the node unknown); a DELETE is not, and a 503 from the API
// server's proxy that cannot reach the pod is not either.
func TestGetAsksAgainWhenBusy(t *testing.T) {
	for _, tc := range []struct {
		name     string
		method   string
		body     string
		failures int
		calls    int
		ok       bool
	}{
		{"GET, busy once", http.MethodGet, `{"message":"busy"}`, 1, 2, true},
		{"GET, busy throughout", http.MethodGet, `{"message":"busy"}`, 10, 3, false},
		{"GET, the proxy cannot reach the pod", http.MethodGet, `{"message":"error trying to reach service: dial tcp 10.0.0.1:8024: connect: connection refused"}`, 10, 1, false},
		{"DELETE, busy once", http.MethodDelete, `{"message":"busy"}`, 1, 1, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var calls atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if int(calls.Add(1)) <= tc.failures {
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusServiceUnavailable)
					_, _ = w.Write([]byte(tc.body))
					return
				}
				_, _ = w.Write([]byte(`{}`))
			}))
			defer srv.Close()
			c, err := New(srv.URL, srv.Client())
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.raw(context.Background(), request{method: tc.method, path: "/x"})
			if (err == nil) != tc.ok || int(calls.Load()) != tc.calls {
				t.Errorf("err %v after %d calls; want ok=%v after %d", err, calls.Load(), tc.ok, tc.calls)
			}
		})
	}
}
