package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// fixture decodes a recorded answer from pkg/axonserver/testdata.
func fixture[T any](t *testing.T, name string) T {
	t.Helper()
	var v T
	b, err := os.ReadFile(filepath.Join("..", "axonserver", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return v
}

// inflight tracks how many calls run at once, across every fakeAPI sharing it.
type inflight struct {
	now, max atomic.Int32
}

func (f *inflight) enter() {
	n := f.now.Add(1)
	for {
		m := f.max.Load()
		if n <= m || f.max.CompareAndSwap(m, n) {
			return
		}
	}
}

func (f *inflight) leave() { f.now.Add(-1) }

// fakeAPI answers each method with a canned value or error and counts the calls.
type fakeAPI struct {
	info   *axonserver.Info
	me     *axonserver.NodeInfo
	public []axonserver.Node
	groups []axonserver.ReplicationGroup
	ctxs   []axonserver.Context
	raft   []axonserver.RaftStatus
	health *axonserver.Health
	env    *axonserver.Env
	// raftLater, when set, is the Raft status of the second and later calls.
	raftLater []axonserver.RaftStatus
	errs      map[string]error // by method name; "*" for every method
	delay     time.Duration    // each call takes this long
	block     bool             // each call waits for its context to end
	tracker   *inflight

	mu    sync.Mutex
	calls map[string]int
}

func (f *fakeAPI) count(method string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls[method]
}

func (f *fakeAPI) total() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := 0
	for _, c := range f.calls {
		n += c
	}
	return n
}

// answer records the call, waits as told, and returns v or the method's error.
func answer[T any](ctx context.Context, f *fakeAPI, method string, v T) (T, error) {
	f.mu.Lock()
	if f.calls == nil {
		f.calls = map[string]int{}
	}
	f.calls[method]++
	f.mu.Unlock()
	if f.tracker != nil {
		f.tracker.enter()
		defer f.tracker.leave()
	}
	var zero T
	if f.block {
		<-ctx.Done()
		return zero, ctx.Err()
	}
	time.Sleep(f.delay)
	if err := f.errs[method]; err != nil {
		return zero, err
	}
	if err := f.errs["*"]; err != nil {
		return zero, err
	}
	return v, nil
}

func (f *fakeAPI) Info(ctx context.Context) (*axonserver.Info, error) {
	return answer(ctx, f, "Info", f.info)
}
func (f *fakeAPI) Me(ctx context.Context) (*axonserver.NodeInfo, error) {
	return answer(ctx, f, "Me", f.me)
}
func (f *fakeAPI) Public(ctx context.Context) ([]axonserver.Node, error) {
	return answer(ctx, f, "Public", f.public)
}
func (f *fakeAPI) ReplicationGroups(ctx context.Context) ([]axonserver.ReplicationGroup, error) {
	return answer(ctx, f, "ReplicationGroups", f.groups)
}
func (f *fakeAPI) Contexts(ctx context.Context) ([]axonserver.Context, error) {
	return answer(ctx, f, "Contexts", f.ctxs)
}
func (f *fakeAPI) RaftStatus(ctx context.Context) ([]axonserver.RaftStatus, error) {
	if f.raftLater != nil && f.count("RaftStatus") > 0 {
		return answer(ctx, f, "RaftStatus", f.raftLater)
	}
	return answer(ctx, f, "RaftStatus", f.raft)
}
func (f *fakeAPI) Health(ctx context.Context) (*axonserver.Health, error) {
	return answer(ctx, f, "Health", f.health)
}

func (f *fakeAPI) Env(ctx context.Context) (*axonserver.Env, error) {
	if f.env == nil {
		_, err := answer(ctx, f, "Env", f.env)
		if err == nil {
			err = notFound("/actuator/env")
		}
		return nil, err
	}
	return answer(ctx, f, "Env", f.env)
}

var _ API = (*fakeAPI)(nil)

// eeNode is an EE 4.4 node answering with the recorded fixtures, under its own name.
func eeNode(t *testing.T, name string, admin bool) *fakeAPI {
	t.Helper()
	me := fixture[axonserver.NodeInfo](t, "ee-4.4/me.json")
	me.Name, me.AdminNode = name, admin
	return &fakeAPI{
		info:   ptr(fixture[axonserver.Info](t, "ee-4.4/info.json")),
		me:     &me,
		public: fixture[[]axonserver.Node](t, "ee-4.4/public.json"),
		groups: fixture[[]axonserver.ReplicationGroup](t, "ee-4.4/replicationgroups.json"),
		raft:   fixture[[]axonserver.RaftStatus](t, "ee-4.4/raft-status.json"),
		health: ptr(fixture[axonserver.Health](t, "ee-4.4/health-up.json")),
	}
}

func ptr[T any](v T) *T { return &v }

func notFound(path string) error {
	return &axonserver.Error{Method: http.MethodGet, Path: path, StatusCode: http.StatusNotFound, Err: axonserver.ErrNotEnterprise}
}

var errRefused = &axonserver.Error{Method: http.MethodGet, Path: "/actuator/info", Err: axonserver.ErrUnreachable,
	Message: "connection refused by http://axonserver-3:8024: is Axon Server running and listening on that port?"}

type fakes map[string]*fakeAPI

// adminFailing is one admin node, axonserver-1, whose method fails with err ("*": every method).
func adminFailing(t *testing.T, method string, err error) fakes {
	n := eeNode(t, "axonserver-1", true)
	n.errs = map[string]error{method: err}
	return fakes{"axonserver-1": n}
}

func TestObserve(t *testing.T) {
	tests := []struct {
		name   string
		nodes  func(t *testing.T) fakes
		nilAPI map[string]string // node → Why
		check  func(t *testing.T, obs *Observation, f fakes)
	}{
		{
			name: "every node answers; the admin node gives the cluster view",
			nodes: func(t *testing.T) fakes {
				return fakes{"axonserver-1": eeNode(t, "axonserver-1", false), "axonserver-2": eeNode(t, "axonserver-2", true),
					"axonserver-3": eeNode(t, "axonserver-3", false)}
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				for n, v := range obs.Nodes {
					if !v.Reachable || v.Err != nil || v.Info == nil || v.Me == nil || v.Health == nil || len(v.Raft) != 2 {
						t.Errorf("%s: %+v", n, v)
					}
					if v.Version() != "4.4.2" {
						t.Errorf("%s: version %q", n, v.Version())
					}
				}
				wantFrom(t, obs, "axonserver-2", true, "_admin", "default")
				for n, api := range f {
					want := 5 // info, me, health, env, raft
					if n == "axonserver-2" {
						want = 7
					}
					if api.total() != want {
						t.Errorf("%s answered %d calls %v, want %d", n, api.total(), api.calls, want)
					}
				}
				if obs.Calls != 17 {
					t.Errorf("Calls = %d, want 17", obs.Calls)
				}
			},
		},
		{
			name: "an unreachable node; the others answer",
			nodes: func(t *testing.T) fakes {
				down := eeNode(t, "axonserver-3", true)
				down.errs = map[string]error{"*": errRefused}
				return fakes{"axonserver-1": eeNode(t, "axonserver-1", false), "axonserver-2": eeNode(t, "axonserver-2", false), "axonserver-3": down}
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				v := obs.Nodes["axonserver-3"]
				if v.Reachable || !errors.Is(v.Err, axonserver.ErrUnreachable) || v.Info != nil || v.Me != nil || v.Raft != nil {
					t.Errorf("axonserver-3: %+v", v)
				}
				if obs.Nodes["axonserver-1"].Err != nil || !obs.Nodes["axonserver-2"].Reachable {
					t.Errorf("healthy nodes: %+v %+v", obs.Nodes["axonserver-1"], obs.Nodes["axonserver-2"])
				}
				// axonserver-3 is the admin node but never answered /v1/public/me.
				wantFrom(t, obs, "axonserver-1", true, "_admin", "default")
				if f["axonserver-3"].count("Public") != 0 {
					t.Error("asked the unreachable node for /v1/public")
				}
			},
		},
		{
			name: "a node without a pod is not called",
			nodes: func(t *testing.T) fakes {
				return fakes{"axonserver-1": eeNode(t, "axonserver-1", true)}
			},
			nilAPI: map[string]string{"axonserver-2": "no pod", "axonserver-3": "pod Pending"},
			check: func(t *testing.T, obs *Observation, f fakes) {
				for n, why := range map[string]string{"axonserver-2": "no pod", "axonserver-3": "pod Pending"} {
					v := obs.Nodes[n]
					if v == nil || v.Reachable || v.Err == nil || v.Err.Error() != why {
						t.Errorf("%s: %+v, want unreachable because %q", n, v, why)
					}
				}
				wantFrom(t, obs, "axonserver-1", true, "_admin", "default")
			},
		},
		{
			name: "Raft status forbidden: reachable, with the error, without Raft",
			nodes: func(t *testing.T) fakes {
				return adminFailing(t, "RaftStatus", &axonserver.Error{StatusCode: http.StatusForbidden, Path: "/internal/raft/status"})
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				v := obs.Nodes["axonserver-1"]
				if !v.Reachable || !axonserver.IsForbidden(v.Err) || v.Raft != nil {
					t.Errorf("axonserver-1: %+v", v)
				}
				wantFrom(t, obs, "axonserver-1", true, "_admin", "default")
			},
		},
		{
			name: "admin node fails /v1/public: the next node gives the cluster view",
			nodes: func(t *testing.T) fakes {
				admin := eeNode(t, "axonserver-1", true)
				admin.errs = map[string]error{"Public": errors.New("boom")}
				return fakes{"axonserver-1": admin, "axonserver-2": eeNode(t, "axonserver-2", false)}
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				wantFrom(t, obs, "axonserver-2", true, "_admin", "default")
				if f["axonserver-1"].count("Public") != 1 || f["axonserver-1"].count("ReplicationGroups") != 0 {
					t.Errorf("admin node calls %v", f["axonserver-1"].calls)
				}
			},
		},
		{
			name: "4.3: no replication groups endpoint, groups from contexts",
			nodes: func(t *testing.T) fakes {
				f := adminFailing(t, "ReplicationGroups", notFound("/v1/public/replicationgroups"))
				f["axonserver-1"].ctxs = fixture[[]axonserver.Context](t, "ee-4.3/context.json")
				return f
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				wantFrom(t, obs, "axonserver-1", true, "_admin", "default")
				d := obs.Groups[1]
				want := []axonserver.NodeRole{{Node: "axonserver-1", Role: "PRIMARY"}, {Node: "axonserver-2", Role: "PRIMARY"}, {Node: "axonserver-3", Role: "MESSAGING_ONLY"}}
				if d.Leader != "axonserver-2" || !reflect.DeepEqual(d.Roles, want) || len(d.Contexts) != 1 || d.Contexts[0].Context != "default" {
					t.Errorf("default group %+v", d)
				}
				if f["axonserver-1"].count("Contexts") != 1 || obs.Calls != 8 {
					t.Errorf("Contexts calls %d, Calls %d", f["axonserver-1"].count("Contexts"), obs.Calls)
				}
			},
		},
		{
			name: "replication groups fail otherwise: no fallback, cluster error",
			nodes: func(t *testing.T) fakes {
				return adminFailing(t, "ReplicationGroups", &axonserver.Error{StatusCode: http.StatusForbidden, Message: "Invalid token"})
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				if obs.From != "" || !axonserver.IsForbidden(obs.ClusterErr) || obs.Groups != nil {
					t.Errorf("From %q, ClusterErr %v, Groups %v", obs.From, obs.ClusterErr, obs.Groups)
				}
				if f["axonserver-1"].count("Contexts") != 0 {
					t.Error("fell back to contexts on a 403")
				}
			},
		},
		{
			name: "SE: no groups, no Raft",
			nodes: func(t *testing.T) fakes {
				n := &fakeAPI{
					info:   &axonserver.Info{},
					me:     ptr(fixture[axonserver.NodeInfo](t, "se/me.json")),
					public: fixture[[]axonserver.Node](t, "se/public.json"),
					health: ptr(fixture[axonserver.Health](t, "se/health-up.json")),
					errs:   map[string]error{"RaftStatus": notFound("/internal/raft/status"), "ReplicationGroups": notFound("/v1/public/replicationgroups")},
				}
				return fakes{"axonserver": n}
			},
			check: func(t *testing.T, obs *Observation, f fakes) {
				wantFrom(t, obs, "axonserver", false)
				if v := obs.Nodes["axonserver"]; v.Err != nil || !v.Reachable {
					t.Errorf("SE node: %+v (a 404 on Raft status is no error)", v)
				}
				if f["axonserver"].count("ReplicationGroups")+f["axonserver"].count("Contexts") != 0 {
					t.Errorf("asked SE for groups: %v", f["axonserver"].calls)
				}
			},
		},
		{
			name: "nobody answers",
			nodes: func(t *testing.T) fakes {
				return adminFailing(t, "*", errRefused)
			},
			nilAPI: map[string]string{"axonserver-2": "no pod"},
			check: func(t *testing.T, obs *Observation, f fakes) {
				if obs.From != "" || obs.ClusterErr == nil || obs.ClusterErr.Error() != "no Axon Server node answered" || obs.Public != nil {
					t.Errorf("From %q, ClusterErr %v, Public %v", obs.From, obs.ClusterErr, obs.Public)
				}
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.nodes(t)
			var targets []Target
			for _, n := range slices.Sorted(maps.Keys(f)) { // in order: From is the first admin, else the first answering node
				targets = append(targets, Target{Node: n, API: f[n]})
			}
			for _, n := range slices.Sorted(maps.Keys(tc.nilAPI)) {
				targets = append(targets, Target{Node: n, Why: tc.nilAPI[n]})
			}
			obs := Observe(context.Background(), targets, Options{})
			if len(obs.Nodes) != len(targets) {
				t.Fatalf("%d node views for %d targets", len(obs.Nodes), len(targets))
			}
			tc.check(t, obs, f)
		})
	}
}

// wantFrom checks where the cluster view came from and what it holds.
func wantFrom(t *testing.T, obs *Observation, from string, clustered bool, groups ...string) {
	t.Helper()
	if obs.From != from || obs.ClusterErr != nil || obs.Clustered != clustered {
		t.Errorf("From %q ClusterErr %v Clustered %v; want From %q Clustered %v", obs.From, obs.ClusterErr, obs.Clustered, from, clustered)
	}
	if len(obs.Public) == 0 {
		t.Error("no /v1/public")
	}
	var got []string
	for _, g := range obs.Groups {
		got = append(got, g.Name)
	}
	if strings.Join(got, ",") != strings.Join(groups, ",") {
		t.Errorf("groups %q, want %q", got, groups)
	}
}

func TestObserveConcurrencyBound(t *testing.T) {
	for _, tc := range []struct{ concurrency, nodes, atMost int }{
		{1, 3, 1}, {2, 5, 2}, {0, 9, 16}, {64, 2, 10},
	} {
		tr := &inflight{}
		var targets []Target
		var apis []*fakeAPI
		for i := range tc.nodes {
			api := eeNode(t, "n", i == 0)
			api.delay, api.tracker = 5*time.Millisecond, tr
			apis = append(apis, api)
			targets = append(targets, Target{Node: string(rune('a' + i)), API: api})
		}
		obs := Observe(context.Background(), targets, Options{Concurrency: tc.concurrency})
		peak := int(tr.max.Load())
		if peak > tc.atMost {
			t.Errorf("concurrency %d, %d nodes: %d calls in flight, want at most %d", tc.concurrency, tc.nodes, peak, tc.atMost)
		}
		// The bound is used, not just respected: with several calls waiting, more than one runs.
		if want := min(tc.atMost, 5*tc.nodes); want > 1 && peak < 2 {
			t.Errorf("concurrency %d, %d nodes: peak %d, calls ran one by one", tc.concurrency, tc.nodes, peak)
		}
		if obs.From != "a" || obs.Calls != 5*tc.nodes+2 {
			t.Errorf("From %q, Calls %d", obs.From, obs.Calls)
		}
	}
}

func TestObserveTimeout(t *testing.T) {
	slow := eeNode(t, "axonserver-1", true)
	slow.block = true
	start := time.Now()
	obs := Observe(context.Background(), []Target{{Node: "axonserver-1", API: slow}}, Options{Timeout: 20 * time.Millisecond})
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("Observe took %v with a 20ms timeout", took)
	}
	v := obs.Nodes["axonserver-1"]
	if v.Reachable || !errors.Is(v.Err, context.DeadlineExceeded) {
		t.Errorf("node view %+v, want a deadline error", v)
	}
	if obs.ClusterErr == nil || obs.From != "" {
		t.Errorf("ClusterErr %v From %q", obs.ClusterErr, obs.From)
	}
}

func TestGroupsFromContexts(t *testing.T) {
	ctxs := []axonserver.Context{
		{Context: "orders", ReplicationGroup: "shop", Leader: "n2", Roles: []axonserver.NodeRole{{Node: "n2", Role: "PRIMARY"}}},
		{Context: "_admin", Leader: "n1", Nodes: []string{"n1", "n2"}},
		{Context: "carts", ReplicationGroup: "shop", Leader: "n2", ChangePending: true},
	}
	got := groupsFromContexts(ctxs)
	if len(got) != 2 || got[0].Name != "_admin" || got[1].Name != "shop" {
		t.Fatalf("groups %+v", got)
	}
	if want := []axonserver.NodeRole{{Node: "n1", Role: "PRIMARY"}, {Node: "n2", Role: "PRIMARY"}}; !reflect.DeepEqual(got[0].Roles, want) {
		t.Errorf("_admin roles %v, want %v (4.3 nodes as PRIMARY)", got[0].Roles, want)
	}
	if shop := got[1]; shop.Leader != "n2" || len(shop.Contexts) != 2 || len(shop.Roles) != 1 {
		t.Errorf("shop %+v", shop)
	}
}

// TestObserveRereadsFollowersBehind: the first round reads every node at once, so a
// follower read a moment before its leader may look behind. It is read once more,
// after the leaders; in the groups it follows the new answer counts, in a group it
// leads the first answer stays (its followers were judged against that one).
func TestObserveRereadsFollowersBehind(t *testing.T) {
	rs := func(group string, leader bool, term, commit, last int64) axonserver.RaftStatus {
		return axonserver.RaftStatus{ReplicationGroup: group, IsLeader: leader, CurrentTerm: term,
			CommitTerm: term, CommitIndex: commit, LastLogTerm: term, LastLogIndex: last}
	}
	a := eeNode(t, "a", true)
	a.raft = []axonserver.RaftStatus{rs("g", true, 3, 100, 100), rs("h", false, 5, 40, 40)}
	b := eeNode(t, "b", false)
	b.raft = []axonserver.RaftStatus{rs("g", false, 3, 97, 98), rs("h", true, 5, 50, 50)}
	b.raftLater = []axonserver.RaftStatus{rs("g", false, 3, 100, 101), rs("h", true, 5, 900, 900)}
	c := eeNode(t, "c", false)
	c.raft = []axonserver.RaftStatus{rs("g", false, 3, 100, 100)}
	c.raftLater = []axonserver.RaftStatus{rs("g", false, 3, 0, 0)} // never read again: not behind
	a.raftLater = []axonserver.RaftStatus{rs("g", true, 3, 100, 100), rs("h", false, 5, 50, 50)}
	targets := []Target{{Node: "a", API: a}, {Node: "b", API: b}, {Node: "c", API: c}}
	obs := Observe(context.Background(), targets, Options{})

	if n := c.count("RaftStatus"); n != 1 {
		t.Errorf("c (caught up) read %d times, want 1", n)
	}
	if n := b.count("RaftStatus"); n != 2 {
		t.Errorf("b (behind in g) read %d times, want 2", n)
	}
	if lag := FollowerLag(raftOf(obs.Nodes["a"], "g"), raftOf(obs.Nodes["b"], "g")); !lag.CaughtUp {
		t.Errorf("b in g after the second read: %+v, want caught up", lag)
	}
	if r := raftOf(obs.Nodes["b"], "h"); r.CommitIndex != 50 {
		t.Errorf("b leads h: commit index %d, want the first answer's 50", r.CommitIndex)
	}
	if lag := FollowerLag(raftOf(obs.Nodes["b"], "h"), raftOf(obs.Nodes["a"], "h")); !lag.CaughtUp {
		t.Errorf("a in h, judged against the first answer of its leader: %+v", lag)
	}
}

// TestObserveAsksOncePerInstance: a process's build, configuration and identity are
// asked once per command (Options.Cache); a restarted process (another instance) is
// asked again, and so is everything else on every look.
func TestObserveAsksOncePerInstance(t *testing.T) {
	n := eeNode(t, "axonserver-1", true)
	n.env = &axonserver.Env{}
	o := Options{Cache: &Cache{}}
	look := func(instance string) *NodeView {
		obs := Observe(context.Background(), []Target{{Node: "axonserver-1", API: n, Instance: instance}}, o)
		v := obs.Nodes["axonserver-1"]
		if v.Info == nil || v.Env == nil || v.Me == nil || !v.Reachable {
			t.Fatalf("look at %s: info %v, env %v, me %v, reachable %v", instance, v.Info, v.Env, v.Me, v.Reachable)
		}
		return v
	}
	look("axonserver-1/uid-a/0")
	look("axonserver-1/uid-a/0")
	if n.count("Info") != 1 || n.count("Env") != 1 || n.count("Me") != 1 || n.count("Health") != 2 || n.count("RaftStatus") < 2 {
		t.Errorf("two looks at one instance: %v", n.calls)
	}
	look("axonserver-1/uid-a/1") // the container restarted
	if n.count("Info") != 2 || n.count("Env") != 2 || n.count("Me") != 2 {
		t.Errorf("a new instance was not asked again: %v", n.calls)
	}
	look("") // no instance: never cached
	if n.count("Info") != 3 || n.count("Me") != 3 {
		t.Errorf("no instance, yet cached: %v", n.calls)
	}
}

// TestObserveKeptIdentity: a node whose identity is kept is an admin node exactly
// when its Raft status of this look names _admin, is taken as answering when its
// Raft status answers (404 on SE too), and is asked its identity when the Raft
// status fails.
func TestObserveKeptIdentity(t *testing.T) {
	const instance = "axonserver-1/uid-a/0"
	admin := fixture[[]axonserver.RaftStatus](t, "ee-4.4/raft-status.json")
	var member []axonserver.RaftStatus
	for _, r := range admin {
		if r.ReplicationGroup != AdminGroup {
			member = append(member, r)
		}
	}
	for _, c := range []struct {
		name      string
		raft      []axonserver.RaftStatus
		raftErr   error
		meErr     error
		wantAdmin bool
		wantMe    int // Me calls in the second look
		answered  bool
	}{
		{name: "a member of _admin", raft: admin, wantAdmin: true, answered: true},
		{name: "removed from _admin since", raft: member, answered: true},
		{name: "SE: no Raft status", raftErr: notFound("/internal/raft/status"), answered: true},
		{name: "the Raft status fails: asked", raftErr: &axonserver.Error{StatusCode: http.StatusServiceUnavailable, Path: "/internal/raft/status"},
			wantAdmin: true, wantMe: 1, answered: true},
		{name: "the Raft status and the identity fail", raftErr: &axonserver.Error{StatusCode: http.StatusServiceUnavailable, Path: "/internal/raft/status"},
			meErr: errRefused, wantMe: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := &Cache{}
			first := eeNode(t, "axonserver-1", true)
			Observe(context.Background(), []Target{{Node: "axonserver-1", API: first, Instance: instance}}, Options{Cache: cache})
			n := eeNode(t, "axonserver-1", true)
			n.raft, n.errs = c.raft, map[string]error{"RaftStatus": c.raftErr, "Me": c.meErr}
			obs := Observe(context.Background(), []Target{{Node: "axonserver-1", API: n, Instance: instance}}, Options{Cache: cache})
			v := obs.Nodes["axonserver-1"]
			if got := n.count("Me"); got != c.wantMe {
				t.Errorf("asked the identity %d times, want %d", got, c.wantMe)
			}
			if (v.Me != nil) != c.answered || v.Reachable != c.answered {
				t.Fatalf("identity %+v, reachable %v; want answered %v", v.Me, v.Reachable, c.answered)
			}
			if v.Me != nil && (v.Me.AdminNode != c.wantAdmin || v.Me.Name != "axonserver-1") {
				t.Errorf("identity %+v, want admin %v", v.Me, c.wantAdmin)
			}
			if (c.raftErr != nil && !axonserver.IsNotFound(c.raftErr)) != (v.Err != nil) {
				t.Errorf("Err = %v", v.Err)
			}
		})
	}
}

// TestObserveFocus: a focused look asks the focus nodes and the leaders of their
// groups, and no other node: its calls are the same whatever the cluster's size.
// The nodes left out carry ErrNotAsked.
func TestObserveFocus(t *testing.T) {
	calls := map[int]int{}
	for _, size := range []int{6, 30} {
		names := make([]string, size)
		for i := range names {
			names[i] = fmt.Sprintf("axonserver-%02d", i+1)
		}
		// Groups of three consecutive nodes, each led by its middle one.
		var groups []axonserver.ReplicationGroup
		for i := 0; i+2 < size; i += 3 {
			g := axonserver.ReplicationGroup{Name: fmt.Sprintf("g%d", i/3), Leader: names[i+1]}
			for _, n := range names[i : i+3] {
				g.Roles = append(g.Roles, axonserver.NodeRole{Node: n, Role: "PRIMARY"})
			}
			groups = append(groups, g)
		}
		admin := names[size-1]
		fs, targets := clusterOf(t, names, groups, admin)
		obs := Observe(context.Background(), targets, Options{Focus: names[:1], ViewFrom: admin})
		asked := map[string]bool{}
		for n, f := range fs {
			if f.total() > 0 {
				asked[n] = true
			}
		}
		want := map[string]bool{names[0]: true, names[1]: true, admin: true} // names[1] leads names[0]'s group
		if !reflect.DeepEqual(asked, want) {
			t.Errorf("%d nodes: asked %v, want %v", size, asked, want)
		}
		for _, n := range names {
			if v := obs.Nodes[n]; want[n] != (v.Err == nil) || !want[n] && !errors.Is(v.Err, ErrNotAsked) {
				t.Errorf("%d nodes: %s: err %v", size, n, v.Err)
			}
		}
		if obs.From != admin {
			t.Errorf("%d nodes: cluster view from %q, want the admin node %s", size, obs.From, admin)
		}
		calls[size] = obs.Calls
	}
	if calls[6] != calls[30] {
		t.Errorf("a focused look made %d calls at 6 nodes and %d at 30: it grows with the cluster", calls[6], calls[30])
	}
}

// clusterOf is an EE cluster of the named nodes, every one connected, with these
// replication groups and one admin node.
func clusterOf(t *testing.T, names []string, groups []axonserver.ReplicationGroup, admin string) (fakes, []Target) {
	t.Helper()
	var public []axonserver.Node
	for _, n := range names {
		public = append(public, axonserver.Node{Name: n, Connected: true})
	}
	fs := fakes{}
	var targets []Target
	for _, n := range names {
		f := eeNode(t, n, n == admin)
		f.public, f.groups = public, groups
		fs[n] = f
		targets = append(targets, Target{Node: n, API: f})
	}
	return fs, targets
}

// TestObserveFocusLeaders: in a focused look, the leaders an earlier look saw
// (Options.Leaders) are asked in the round with the focus node, and the leaders of
// their own groups are not: where groups overlap (a chain of groups of three
// consecutive nodes), the look asks the focus node, its groups' leaders and the
// view node, in one round. A leader elected since is asked after the round.
func TestObserveFocusLeaders(t *testing.T) {
	const size = 12
	names := make([]string, size)
	for i := range names {
		names[i] = fmt.Sprintf("axonserver-%02d", i+1)
	}
	// g<i> is nodes i, i+1, i+2, led by i+1.
	groupsLedBy := func(lead func(i int) string) []axonserver.ReplicationGroup {
		var groups []axonserver.ReplicationGroup
		for i := 0; i+2 < size; i++ {
			g := axonserver.ReplicationGroup{Name: fmt.Sprintf("g%02d", i), Leader: lead(i)}
			for _, n := range names[i : i+3] {
				g.Roles = append(g.Roles, axonserver.NodeRole{Node: n, Role: "PRIMARY"})
			}
			groups = append(groups, g)
		}
		return groups
	}
	middle := func(i int) string { return names[i+1] }
	focus, admin := names[5], names[size-1]
	// names[5] is in g03, g04, g05, led by names[4], names[5] and names[6].
	for _, c := range []struct {
		name    string
		groups  []axonserver.ReplicationGroup
		leaders []string
		want    []string
	}{
		{"the leaders as they were", groupsLedBy(middle), []string{names[4], names[6]},
			[]string{names[4], focus, names[6], admin}},
		{"g05 elected names[7] since", groupsLedBy(func(i int) string {
			if i == 5 {
				return names[7]
			}
			return middle(i)
		}), []string{names[4], names[6]}, []string{names[4], focus, names[6], names[7], admin}},
	} {
		t.Run(c.name, func(t *testing.T) {
			fs, targets := clusterOf(t, names, c.groups, admin)
			Observe(context.Background(), targets, Options{Focus: []string{focus}, Leaders: c.leaders, ViewFrom: admin, Health: HealthOfNone})
			var asked []string
			for _, n := range names {
				if fs[n].total() > 0 {
					asked = append(asked, n)
				}
			}
			if !slices.Equal(asked, c.want) {
				t.Errorf("asked %v, want %v", asked, c.want)
			}
		})
	}
}

// gatedMe is a node whose /v1/public/me answers only once /v1/public was asked of the
// node the views come from: a look passes only if it asks for the cluster-wide views
// alongside the round of questions to every node, not after it.
type gatedMe struct {
	*fakeAPI
	asked <-chan struct{}
}

func (g gatedMe) Me(ctx context.Context) (*axonserver.NodeInfo, error) {
	select {
	case <-g.asked:
		return g.fakeAPI.Me(ctx)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// viewNode closes asked at its first /v1/public.
type viewNode struct {
	*fakeAPI
	once  *sync.Once
	asked chan struct{}
}

func (v viewNode) Public(ctx context.Context) ([]axonserver.Node, error) {
	v.once.Do(func() { close(v.asked) })
	return v.fakeAPI.Public(ctx)
}

// TestObserveViewsAlongsideTheRound: with a node to take the cluster-wide views from
// (Options.ViewFrom, or the Cache's last look), they are asked during the round of
// questions to every node, so a look is one round trip deep rather than three. The
// views count only from an admin node when one answers as such.
func TestObserveViewsAlongsideTheRound(t *testing.T) {
	setup := func(t *testing.T, viewAdmin bool) ([]Target, *fakeAPI, *fakeAPI) {
		asked := make(chan struct{})
		view := eeNode(t, "axonserver-1", viewAdmin)
		other := eeNode(t, "axonserver-2", true)
		return []Target{
			{Node: "axonserver-1", API: viewNode{fakeAPI: view, once: &sync.Once{}, asked: asked}},
			{Node: "axonserver-2", API: gatedMe{fakeAPI: other, asked: asked}},
		}, view, other
	}
	t.Run("ViewFrom", func(t *testing.T) {
		targets, _, _ := setup(t, true)
		obs := Observe(context.Background(), targets, Options{Timeout: 2 * time.Second, ViewFrom: "axonserver-1"})
		if obs.Nodes["axonserver-2"].Err != nil || obs.From != "axonserver-1" || len(obs.Groups) == 0 {
			t.Fatalf("views after the round: axonserver-2 %v, from %q, %d groups", obs.Nodes["axonserver-2"].Err, obs.From, len(obs.Groups))
		}
	})
	t.Run("the Cache's last look", func(t *testing.T) {
		cache := &Cache{}
		first := []Target{{Node: "axonserver-1", API: eeNode(t, "axonserver-1", true)}, {Node: "axonserver-2", API: eeNode(t, "axonserver-2", false)}}
		if obs := Observe(context.Background(), first, Options{Cache: cache}); obs.From != "axonserver-1" {
			t.Fatalf("first look from %q", obs.From)
		}
		targets, _, _ := setup(t, true)
		obs := Observe(context.Background(), targets, Options{Timeout: 2 * time.Second, Cache: cache})
		if obs.Nodes["axonserver-2"].Err != nil || obs.From != "axonserver-1" {
			t.Fatalf("views after the round: axonserver-2 %v, from %q", obs.Nodes["axonserver-2"].Err, obs.From)
		}
	})
	t.Run("not an admin node while another is", func(t *testing.T) {
		targets, view, other := setup(t, false)
		obs := Observe(context.Background(), targets, Options{Timeout: 2 * time.Second, ViewFrom: "axonserver-1"})
		if obs.From != "axonserver-2" || other.count("Public") != 1 || view.count("Public") != 1 {
			t.Fatalf("from %q; Public asked of the admin node %d, of the hint %d", obs.From, other.count("Public"), view.count("Public"))
		}
	})
}

// TestObserveSkipHealth: with HealthOfNone no node is asked its health, and the model
// (what the steps judge by) is the same as with it.
func TestObserveSkipHealth(t *testing.T) {
	nodes := []string{"axonserver-1", "axonserver-2", "axonserver-3"}
	look := func(skip bool) (*Observation, fakes) {
		f := fakes{}
		var targets []Target
		for i, n := range nodes {
			f[n] = eeNode(t, n, i == 0)
			targets = append(targets, Target{Node: n, API: f[n]})
		}
		return Observe(context.Background(), targets, Options{Health: map[bool]HealthOf{true: HealthOfNone}[skip]}), f
	}
	with, _ := look(false)
	without, f := look(true)
	for _, n := range nodes {
		if f[n].count("Health") != 0 || without.Nodes[n].Health != nil {
			t.Errorf("%s: asked its health %d times", n, f[n].count("Health"))
		}
	}
	pods := map[string]PodState{}
	for _, n := range nodes {
		pods[n] = PodState{Ready: true}
	}
	a, b := BuildModel(with, pods, 0), BuildModel(without, pods, 0)
	for _, m := range []*Model{a, b} { // the leader's hint is health's only part in the model
		for _, lags := range m.Lags {
			for n, l := range lags {
				l.Health = ""
				lags[n] = l
			}
		}
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("the model differs without health:\nwith    %+v\nwithout %+v", a, b)
	}
}

// TestObserveHealthOfView: HealthOfView asks the health of the node the cluster-wide
// views come from, and of every node when that node is not UP.
func TestObserveHealthOfView(t *testing.T) {
	nodes := []string{"axonserver-1", "axonserver-2", "axonserver-3"}
	for _, c := range []struct {
		name     string
		viewFrom string
		status   string // axonserver-1's health
		down     bool   // axonserver-1 does not answer
		asked    string // the nodes asked their health
	}{
		{name: "the view node is UP", viewFrom: "axonserver-1", status: axonserver.StatusUp, asked: "axonserver-1"},
		{name: "the view node is WARN", viewFrom: "axonserver-1", status: axonserver.StatusWarn, asked: "axonserver-1,axonserver-2,axonserver-3"},
		{name: "the view node is DOWN", viewFrom: "axonserver-1", status: axonserver.StatusDown, asked: "axonserver-1,axonserver-2,axonserver-3"},
		{name: "no view node known before: asked after the views", status: axonserver.StatusUp, asked: "axonserver-1"},
		{name: "no view node known before, not UP", status: axonserver.StatusWarn, asked: "axonserver-1,axonserver-2,axonserver-3"},
		{name: "the view node does not answer: the one that gave the views", viewFrom: "axonserver-1", down: true, asked: "axonserver-1,axonserver-2"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := fakes{}
			var targets []Target
			for i, n := range nodes {
				f[n] = eeNode(t, n, true)
				if i == 0 {
					h := *f[n].health
					h.Status = c.status
					f[n].health = &h
					if c.down {
						f[n].errs = map[string]error{"*": errRefused}
					}
				}
				targets = append(targets, Target{Node: n, API: f[n]})
			}
			obs := Observe(context.Background(), targets, Options{ViewFrom: c.viewFrom, Health: HealthOfView})
			var asked []string
			for _, n := range nodes {
				if k := f[n].count("Health"); k > 1 {
					t.Errorf("%s asked its health %d times", n, k)
				} else if k == 1 {
					asked = append(asked, n)
				}
				if obs.Nodes[n].Health != nil && f[n].count("Health") == 0 {
					t.Errorf("%s: a health not asked", n)
				}
			}
			if got := strings.Join(asked, ","); got != c.asked {
				t.Errorf("asked the health of %s, want %s (views from %s)", got, c.asked, obs.From)
			}
		})
	}
}

// raftAnswered is a node that notes when its Raft status has answered, and whether its
// groups' view was asked before that.
type raftAnswered struct {
	*fakeAPI
	answered, groupsFirst atomic.Bool
}

func (r *raftAnswered) RaftStatus(ctx context.Context) ([]axonserver.RaftStatus, error) {
	defer r.answered.Store(true)
	return r.fakeAPI.RaftStatus(ctx)
}

func (r *raftAnswered) ReplicationGroups(ctx context.Context) ([]axonserver.ReplicationGroup, error) {
	if !r.answered.Load() {
		r.groupsFirst.Store(true)
	}
	return r.fakeAPI.ReplicationGroups(ctx)
}

// TestObserveReuseGroups: with Options.ReuseGroups the view node, once the Cache
// keeps a view from it, is asked for its groups only after its Raft status answered,
// and a view kept for the same process at the same _admin index is taken instead of
// asking while _admin's leader has committed nothing beyond it; its leaders are the
// ones the node's Raft status names now. Anything else asks.
func TestObserveReuseGroups(t *testing.T) {
	names := []string{"axonserver-1", "axonserver-2", "axonserver-3"}
	groups := []axonserver.ReplicationGroup{
		{Name: AdminGroup, Leader: "axonserver-2", Contexts: []axonserver.Context{{Context: AdminGroup, ReplicationGroup: AdminGroup}}},
		{Name: "g1", Leader: "axonserver-3", Contexts: []axonserver.Context{{Context: "c1", ReplicationGroup: "g1"}, {Context: "c2", ReplicationGroup: "g1"}}},
	}
	for i := range groups {
		for _, n := range names {
			groups[i].Roles = append(groups[i].Roles, axonserver.NodeRole{Node: n, Role: "PRIMARY"})
		}
	}
	// raftOf: node's Raft status with _admin at applied (led by axonserver-2, which
	// has committed commit) and g1 led by g1Leader.
	raftOf := func(node string, applied, commit int64, g1Leader string) []axonserver.RaftStatus {
		a := axonserver.RaftStatus{ReplicationGroup: AdminGroup, LastAppliedIndex: applied, CommitIndex: applied, LeaderName: "axonserver-2"}
		if node == "axonserver-2" {
			a.IsLeader, a.CommitIndex, a.LastAppliedIndex = true, commit, commit
		}
		g := axonserver.RaftStatus{ReplicationGroup: "g1", LeaderName: g1Leader, IsLeader: node == g1Leader}
		return []axonserver.RaftStatus{a, g}
	}
	type look struct {
		applied, commit int64
		g1Leader        string
		instance        string // of axonserver-1, the view node
		leaderDown      bool   // axonserver-2 does not answer
		reuse           bool
		adminEvents     bool // _admin also holds a context with events
	}
	groupsOf := func(l look) []axonserver.ReplicationGroup {
		if !l.adminEvents {
			return groups
		}
		out := slices.Clone(groups)
		out[0].Contexts = append(slices.Clone(out[0].Contexts), axonserver.Context{Context: "default", ReplicationGroup: AdminGroup})
		return out
	}
	run := func(t *testing.T, cache *Cache, l look) (*Observation, *raftAnswered) {
		fs, targets := clusterOf(t, names, groupsOf(l), "axonserver-1")
		view := &raftAnswered{fakeAPI: fs["axonserver-1"]}
		for i, n := range names {
			fs[n].raft = raftOf(n, l.applied, l.commit, l.g1Leader)
			targets[i].Instance = n + "/" + l.instance
		}
		targets[0].API = view
		if l.leaderDown {
			fs["axonserver-2"].errs = map[string]error{"*": errRefused}
		}
		obs := Observe(context.Background(), targets, Options{Cache: cache, ViewFrom: "axonserver-1", ReuseGroups: l.reuse, Health: HealthOfView})
		return obs, view
	}
	first := look{applied: 7, commit: 7, g1Leader: "axonserver-3", instance: "uid-1/0", reuse: true}
	for _, c := range []struct {
		name      string
		second    look
		kept      bool
		wantIndex int64
	}{
		{"nothing moved", first, true, 7},
		{"a new leader of g1: nothing moved in _admin", look{7, 7, "axonserver-1", "uid-1/0", false, true, false}, true, 7},
		{"_admin moved", look{8, 8, "axonserver-3", "uid-1/0", false, true, false}, false, 8},
		{"the view node behind _admin's leader", look{7, 8, "axonserver-3", "uid-1/0", false, true, false}, false, 7},
		{"another process", look{7, 7, "axonserver-3", "uid-1/1", false, true, false}, false, 7},
		{"no _admin leader answered", look{7, 7, "axonserver-3", "uid-1/0", true, true, false}, false, 7},
		{"without ReuseGroups", look{7, 7, "axonserver-3", "uid-1/0", false, false, false}, false, 0},
	} {
		t.Run(c.name, func(t *testing.T) {
			cache := &Cache{}
			// A look whose Cache keeps no view from the node does not wait for its Raft
			// status to ask the view, and keeps it only as worth keeping (index 0).
			if obs0, view0 := run(t, cache, first); view0.count("ReplicationGroups") != 1 || obs0.GroupsIndex != 0 {
				t.Fatalf("cold look: groups asked %d times, index %d", view0.count("ReplicationGroups"), obs0.GroupsIndex)
			}
			if k := cache.knownGroups("axonserver-1", "axonserver-1/uid-1/0"); k == nil || k.AdminIndex != 0 {
				t.Fatalf("cold look kept %+v, want a view at index 0", k)
			}
			obs1, view1 := run(t, cache, first)
			if view1.count("ReplicationGroups") != 1 || view1.groupsFirst.Load() || obs1.GroupsIndex != 7 || obs1.GroupsKept {
				t.Fatalf("first look: groups asked %d times (before the Raft status: %v), index %d, kept %v",
					view1.count("ReplicationGroups"), view1.groupsFirst.Load(), obs1.GroupsIndex, obs1.GroupsKept)
			}
			obs2, view2 := run(t, cache, c.second)
			asked := view2.count("ReplicationGroups")
			if obs2.GroupsKept != c.kept || asked != map[bool]int{true: 0, false: 1}[c.kept] || obs2.GroupsIndex != c.wantIndex {
				t.Fatalf("second look: kept %v, groups asked %d times, index %d; want kept %v, index %d",
					obs2.GroupsKept, asked, obs2.GroupsIndex, c.kept, c.wantIndex)
			}
			if c.second.reuse && view2.groupsFirst.Load() {
				t.Errorf("groups asked before the view node's Raft status answered")
			}
			if !c.kept {
				return
			}
			// The kept view is the view asked, with the leaders as the node names them now.
			want := slices.Clone(groups)
			want[1].Leader = c.second.g1Leader
			if !reflect.DeepEqual(obs2.Groups, want) {
				t.Errorf("kept view:\n got %+v\nwant %+v", obs2.Groups, want)
			}
		})
	}
	// An _admin group that also holds a context with events moves with every write:
	// its view is not kept, and no look waits for the Raft status to ask it.
	t.Run("_admin holds a context with events", func(t *testing.T) {
		cache := &Cache{}
		l := first
		l.adminEvents = true
		for i := range 3 {
			obs, view := run(t, cache, l)
			if view.count("ReplicationGroups") != 1 || obs.GroupsIndex != 0 || obs.GroupsKept || cache.groupsFrom("axonserver-1") {
				t.Fatalf("look %d: groups asked %d times, index %d, kept %v, a view kept: %v", i, view.count("ReplicationGroups"),
					obs.GroupsIndex, obs.GroupsKept, cache.groupsFrom("axonserver-1"))
			}
		}
	})
}
