// Package inspect asks every Axon Server node of a cluster what it knows (concurrently,
// with a bound) and turns the answers into the safety model's terms (quorum.Cluster).
//
// Observe does the I/O; Model is pure and table-tested.
package inspect

import (
	"context"
	"errors"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// API is the part of Axon Server's REST API inspect reads. *axonserver.Client has it.
type API interface {
	Info(ctx context.Context) (*axonserver.Info, error)
	Me(ctx context.Context) (*axonserver.NodeInfo, error)
	Public(ctx context.Context) ([]axonserver.Node, error)
	ReplicationGroups(ctx context.Context) ([]axonserver.ReplicationGroup, error)
	Contexts(ctx context.Context) ([]axonserver.Context, error)
	RaftStatus(ctx context.Context) ([]axonserver.RaftStatus, error)
	Health(ctx context.Context) (*axonserver.Health, error)
	Env(ctx context.Context) (*axonserver.Env, error)
}

// Target is one node to ask, by its Axon Server node name.
type Target struct {
	Node string
	API  API // nil: the node cannot be reached (no pod, pod not running)
	// Why explains a nil API ("no pod", "pod Pending").
	Why string
	// Instance names the running process (the pod's UID and its restarts); what
	// does not change during a process's life (/actuator/info, /actuator/env) is
	// asked once per instance when Options.Cache is set. "" never caches.
	Instance string
}

// NodeView is what one node answered.
type NodeView struct {
	Node      string
	Reachable bool
	Err       error // first error; nil when every call answered
	Info      *axonserver.Info
	Me        *axonserver.NodeInfo
	Raft      []axonserver.RaftStatus // nil when not allowed or failed
	Health    *axonserver.Health
	// Env is /actuator/env, nil when it is not exposed (404) or failed (EnvErr; not
	// counted in Err: the node is fine without it).
	Env    *axonserver.Env
	EnvErr error
}

// Version is the Axon Server version the node reports, "" when unknown.
func (v *NodeView) Version() string {
	if v == nil || v.Info == nil {
		return ""
	}
	return v.Info.App.Version
}

// Observation is one consistent-enough look at the whole cluster.
type Observation struct {
	Nodes map[string]*NodeView
	// Focus are the nodes a focused look was asked to look at (Options.Focus); nil
	// for a look at every node.
	Focus []string
	// From is the node the cluster-wide answers came from ("" if none answered).
	From string
	// Public is /v1/public as seen by From: every node, with connected flags.
	Public []axonserver.Node
	// Groups is /v1/public/replicationgroups; for servers before 4.4 it is built from
	// /v1/public/context (every context its own group).
	Groups []axonserver.ReplicationGroup
	// GroupsIndex is From's _admin lastAppliedIndex read before its Groups were
	// asked (Options.ReuseGroups), or the index of the kept view it took; 0 when
	// the view cannot be taken again (not asked in that order, or From is not a
	// member of _admin).
	GroupsIndex int64
	// GroupsKept: Groups is a view kept from an earlier look (KnownGroups), not
	// asked in this one.
	GroupsKept bool
	// Clustered is false for Axon Server SE (no replication groups).
	Clustered bool
	// ClusterErr is why the cluster-wide answers are missing, if they are.
	ClusterErr error
	Took       time.Duration
	Calls      int
}

// Options tune Observe.
type Options struct {
	// Concurrency bounds the requests in flight; 0 means 16.
	Concurrency int
	// Timeout bounds each request; 0 means 10 s.
	Timeout time.Duration
	// Cache keeps each instance's info and configuration across the observations of
	// one command; nil asks every time.
	Cache *Cache
	// Focus, when not nil, makes the look a focused one: only these nodes and the
	// leaders of their groups are asked (see Observe).
	Focus []string
	// Leaders, in a focused look, are asked in the round as well: the leaders of the
	// focus nodes' groups as an earlier look saw them. Only a leader elected since
	// is then asked after the round, and their own groups' leaders are not asked.
	Leaders []string
	// ViewFrom is a node to ask for the cluster-wide views at once, alongside the
	// questions to every node, rather than after them (an admin node an earlier look
	// found; default: the node the Cache's last look took them from). Its answers
	// count if it answers as an admin node, or no node does; else the views are
	// asked after the round, as without it. In a focused look it is asked as well,
	// its groups' leaders are not.
	ViewFrom string
	// Health says which nodes are asked for /actuator/health (NodeView.Health). The
	// safety model takes nothing from it: it is the license state and the leaders'
	// word on their followers.
	Health HealthOf
	// ReuseGroups asks the node giving the cluster-wide views for its groups' view
	// only after its Raft status, so that the view can be kept (Cache.KeepGroups),
	// and takes a view the Cache keeps for that process instead of asking while
	// the view still holds (KnownGroups). For looks whose views are worth keeping
	// between runs (status). The order costs a round trip when the view is asked,
	// so only a look whose Cache keeps a view from that node waits for it. Without
	// a view node known before the round, the view is read after it, as always,
	// and kept. A cluster whose _admin group also holds contexts with events (its
	// log moves with every write) keeps no view and never waits.
	ReuseGroups bool
}

// HealthOf says which nodes a look asks for their health.
type HealthOf int

const (
	// HealthOfEvery asks every node (the default).
	HealthOfEvery HealthOf = iota
	// HealthOfNone asks none: for a look that is judged by the model only (the
	// looks of a rolling operation).
	HealthOfNone
	// HealthOfView asks the node the cluster-wide views come from: alongside the
	// round when it is known before (ViewFrom or the Cache's last look), else once
	// the views are read. The other nodes are asked only when its health is not UP
	// (license WARN or DOWN, a group without a leader, anything else it reports) or
	// no node gave the views, so that the nodes' own word is read wherever something
	// is wrong. For a look at the cluster as a whole, where the license is the
	// cluster's (status).
	HealthOfView
)

// Cache holds what a running Axon Server process answered that does not change
// while it runs: its build (/actuator/info), its configuration (/actuator/env) and
// its identity (/v1/public/me, less what changes at run time: see Identity). Safe
// for concurrent use.
type Cache struct {
	mu     sync.Mutex
	of     map[string]Answers // by instance
	from   string             // the node the last look's cluster-wide views came from
	groups *KnownGroups       // the last groups' view that can be taken again
}

// Answers are what one process answered that its instance keeps; nil: not known.
type Answers struct {
	Info *axonserver.Info
	Env  *axonserver.Env
	Me   *axonserver.NodeInfo
}

// viewFrom is the node the last look took the cluster-wide views from ("" if none).
func (c *Cache) viewFrom() string {
	if c == nil {
		return ""
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.from
}

// KeepViewFrom makes node the one the next look asks for the cluster-wide views
// alongside its round (Options.ViewFrom's default); "" is ignored.
func (c *Cache) KeepViewFrom(node string) {
	if c == nil || node == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.from = node
}

// answersOf returns what instance answered before (nothing when the instance is "").
func (c *Cache) answersOf(instance string) Answers {
	if c == nil || instance == "" {
		return Answers{}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.of[instance]
}

// Keep remembers instance's answers (nil ones leave what was kept; Me is kept as its
// Identity): the next looks take them instead of asking.
func (c *Cache) Keep(instance string, a Answers) {
	if c == nil || instance == "" {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.of == nil {
		c.of = map[string]Answers{}
	}
	kept := c.of[instance]
	if a.Info != nil {
		kept.Info = a.Info
	}
	if a.Env != nil {
		kept.Env = a.Env
	}
	if a.Me != nil {
		kept.Me = Identity(a.Me)
	}
	c.of[instance] = kept
}

// AdminGroup is the replication group whose members are Axon Server's admin nodes.
const AdminGroup = "_admin"

// Identity is the part of /v1/public/me that does not change while a process runs:
// its name, addresses, ports and settings. What does change (adminNode, the
// contexts, initialized) is left out; a look that takes a kept identity sets
// adminNode from the node's own Raft status of that look (a member of _admin).
func Identity(me *axonserver.NodeInfo) *axonserver.NodeInfo {
	if me == nil {
		return nil
	}
	id := *me
	id.AdminNode, id.ContextNames, id.StorageContextNames, id.Initialized = false, nil, nil, nil
	return &id
}

// ErrNotAsked is the error of a node a focused look did not ask (Options.Focus).
var ErrNotAsked = errors.New("not asked in this look (it asked the step's node and its groups' leaders only)")

// Observe asks every target for its health and Raft status, and for its info,
// identity and effective configuration (/actuator/env) once per instance (see
// Options.Cache), then asks one answering node (an admin node when
// there is one) for the cluster-wide views. With Options.Focus it asks only the
// focus nodes, then the leaders of their groups that the cluster-wide view names
// and the focus left out: what a verdict on the focus nodes needs, whatever the
// size of the cluster. The nodes it did not ask carry ErrNotAsked.
func Observe(ctx context.Context, targets []Target, o Options) *Observation {
	start := time.Now()
	if o.Concurrency <= 0 {
		o.Concurrency = 16
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	obs := &Observation{Nodes: make(map[string]*NodeView, len(targets)), Focus: o.Focus}
	hint := o.ViewFrom
	if hint == "" {
		hint = o.Cache.viewFrom()
	}
	q := &asker{ctx: ctx, obs: obs, o: o, hint: hint, sem: make(chan struct{}, o.Concurrency)}
	var focus, ask map[string]bool
	if o.Focus != nil {
		focus, ask = map[string]bool{}, map[string]bool{o.ViewFrom: o.ViewFrom != ""}
		for _, n := range o.Focus {
			focus[n], ask[n] = true, true
		}
		for _, n := range o.Leaders {
			ask[n] = true
		}
	}
	var early *clusterView
	for _, t := range targets {
		v := &NodeView{Node: t.Node}
		obs.Nodes[t.Node] = v
		switch {
		case t.API == nil:
			v.Err = errors.New(t.Why)
		case ask != nil && !ask[t.Node]:
			v.Err = ErrNotAsked
		case t.Node == hint:
			q.node(v, t)
			early = q.view(v, t)
		default:
			q.node(v, t)
		}
	}
	q.wg.Wait()
	rereadBehind(obs, targets, q)
	q.wg.Wait()
	if !early.use(ctx, obs, o.Timeout) {
		observeCluster(ctx, obs, targets, o.Timeout)
		if o.ReuseGroups && obs.From != "" && obs.Clustered {
			obs.GroupsIndex = adminApplied(obs.Nodes[obs.From].Raft) // read in the round, before the view
		}
	}
	q.restOfHealth(targets)
	o.Cache.KeepViewFrom(obs.From)
	if o.ReuseGroups {
		o.Cache.KeepGroups(KnownGroupsOf(obs, targets))
	}
	if focus != nil {
		for _, t := range leadersLeftOut(obs, targets, focus) {
			v := &NodeView{Node: t.Node}
			obs.Nodes[t.Node] = v
			q.node(v, t)
		}
		q.wg.Wait()
	}
	obs.Took = time.Since(start)
	return obs
}

// asker runs the REST calls of one observation concurrently, at most
// Options.Concurrency at a time, each within Options.Timeout.
type asker struct {
	ctx  context.Context
	obs  *Observation
	o    Options
	hint string // the node asked for the cluster-wide views alongside the round
	sem  chan struct{}
	// healthAsked are the nodes asked their health (written by Observe's goroutine only).
	healthAsked map[string]bool
	// hintRaftIn is closed once the Raft status of the node asked for the
	// cluster-wide views (hint) answered (written by Observe's goroutine only).
	hintRaftIn chan struct{}
	mu         sync.Mutex
	wg         sync.WaitGroup
}

// run runs f in the background, at most Options.Concurrency at a time, within
// Options.Timeout.
func (q *asker) run(f func(ctx context.Context)) {
	q.wg.Add(1)
	go func() {
		defer q.wg.Done()
		q.sem <- struct{}{}
		defer func() { <-q.sem }()
		cctx, cancel := context.WithTimeout(q.ctx, q.o.Timeout)
		defer cancel()
		f(cctx)
	}()
}

// call runs f in the background; its first error becomes v's.
func (q *asker) call(v *NodeView, f func(ctx context.Context) error) {
	q.run(func(ctx context.Context) {
		err := f(ctx)
		q.mu.Lock()
		defer q.mu.Unlock()
		q.obs.Calls++
		if err != nil && v.Err == nil {
			v.Err = err
		}
	})
}

// node asks t what it knows, into v: its Raft status and (as Options.Health says)
// its health every time; its info, configuration and identity once per instance
// (Options.Cache). A node whose identity is kept counts as answering when its Raft
// status answers (404 on SE included), and is then an admin node if it is a member
// of _admin; when the Raft status fails, its identity is asked as for a node not
// known.
func (q *asker) node(v *NodeView, t Target) {
	mu := &q.mu
	api, instance, cache := t.API, t.Instance, q.o.Cache
	kept := cache.answersOf(instance)
	if kept.Info != nil {
		v.Info = kept.Info
	} else {
		q.call(v, func(ctx context.Context) (err error) {
			info, err := api.Info(ctx)
			mu.Lock()
			v.Info = info
			v.Reachable = v.Reachable || err == nil
			mu.Unlock()
			if err == nil {
				cache.Keep(instance, Answers{Info: info})
			}
			return err
		})
	}
	askMe := func(ctx context.Context) error {
		me, err := api.Me(ctx)
		mu.Lock()
		v.Me = me
		v.Reachable = v.Reachable || err == nil
		mu.Unlock()
		if err == nil {
			cache.Keep(instance, Answers{Me: me})
		}
		return err
	}
	if kept.Me == nil {
		q.call(v, askMe)
	}
	if q.healthOf(t.Node) {
		q.health(v, t)
	}
	if kept.Env != nil {
		v.Env = kept.Env
	} else {
		q.call(v, func(ctx context.Context) error {
			env, err := api.Env(ctx)
			mu.Lock()
			v.Env = env
			if !axonserver.IsNotFound(err) {
				v.EnvErr = err
			}
			mu.Unlock()
			if err == nil {
				cache.Keep(instance, Answers{Env: env})
			}
			return nil
		})
	}
	var raftIn chan struct{}
	if t.Node == q.hint {
		raftIn = make(chan struct{})
		q.hintRaftIn = raftIn
	}
	q.call(v, func(ctx context.Context) error {
		if raftIn != nil {
			defer close(raftIn)
		}
		rs, err := api.RaftStatus(ctx)
		se := axonserver.IsNotFound(err) // SE has no Raft
		mu.Lock()
		v.Raft = rs
		if kept.Me != nil && (err == nil || se) {
			me := *kept.Me
			me.AdminNode = !se && slices.ContainsFunc(rs, func(r axonserver.RaftStatus) bool { return r.ReplicationGroup == AdminGroup })
			v.Me, v.Reachable = &me, true
		}
		mu.Unlock()
		if se {
			return nil
		}
		if err != nil && kept.Me != nil {
			q.call(v, askMe)
		}
		return err
	})
}

// healthOf says whether the round asks node its health (Options.Health).
func (q *asker) healthOf(node string) bool {
	switch q.o.Health {
	case HealthOfNone:
		return false
	case HealthOfView:
		return node == q.hint
	}
	return true
}

// health asks t its health, into v.
func (q *asker) health(v *NodeView, t Target) {
	if q.healthAsked == nil {
		q.healthAsked = map[string]bool{}
	}
	q.healthAsked[t.Node] = true
	q.call(v, func(ctx context.Context) error {
		h, err := t.API.Health(ctx)
		q.mu.Lock()
		v.Health = h
		q.mu.Unlock()
		return err
	})
}

// restOfHealth asks, for HealthOfView, the health of the node that gave the
// cluster-wide views if the round did not, then, unless it is UP, of every other
// node the look asked.
func (q *asker) restOfHealth(targets []Target) {
	if q.o.Health != HealthOfView {
		return
	}
	for _, t := range targets {
		if t.Node == q.obs.From && t.API != nil && !q.healthAsked[t.Node] {
			q.health(q.obs.Nodes[t.Node], t)
			q.wg.Wait()
		}
	}
	if v := q.obs.Nodes[q.obs.From]; v != nil && v.Health != nil && v.Health.Status == axonserver.StatusUp {
		return
	}
	for _, t := range targets {
		if v := q.obs.Nodes[t.Node]; t.API != nil && !q.healthAsked[t.Node] && !errors.Is(v.Err, ErrNotAsked) {
			q.health(v, t)
		}
	}
	q.wg.Wait()
}

// leadersLeftOut are the targets a focused look still has to ask: the leaders,
// as the cluster-wide view names them, of the groups a focus node is a member
// of, where the look did not ask them yet.
func leadersLeftOut(obs *Observation, targets []Target, focus map[string]bool) []Target {
	want := map[string]bool{}
	for _, g := range obs.Groups {
		if v := obs.Nodes[g.Leader]; v == nil || !errors.Is(v.Err, ErrNotAsked) {
			continue
		}
		for _, r := range g.Roles {
			if focus[r.Node] {
				want[g.Leader] = true
				break
			}
		}
	}
	var out []Target
	for _, t := range targets {
		if want[t.Node] && t.API != nil {
			out = append(out, t)
		}
	}
	return out
}

// rereadBehind asks again, once, for the Raft status of every node that looked behind
// a leader in some group. The first round reads all nodes at once, so a follower may
// have been read a moment before its leader and miss the entries committed in between.
// Read again now, after every leader's answer, a follower whose log reaches the
// commit index its leader reported has everything that was committed then: the
// ordering "leader first, then follower" that "caught up" needs. Only the groups the
// node follows take the new answer; where it leads, the first answer stays the one
// its followers were judged against.
func rereadBehind(obs *Observation, targets []Target, q *asker) {
	commit := map[string]int64{} // group -> its leader's commit index
	for _, v := range obs.Nodes {
		for _, r := range v.Raft {
			if r.IsLeader {
				commit[r.ReplicationGroup] = r.CommitIndex
			}
		}
	}
	for _, t := range targets {
		v := obs.Nodes[t.Node]
		if t.API == nil || !behindSomewhere(v.Raft, commit) {
			continue
		}
		api := t.API
		q.call(v, func(ctx context.Context) error {
			rs, err := api.RaftStatus(ctx)
			if err != nil {
				return nil // the first answer stands
			}
			fresh := map[string]axonserver.RaftStatus{}
			for _, r := range rs {
				fresh[r.ReplicationGroup] = r
			}
			q.mu.Lock()
			defer q.mu.Unlock()
			for i, r := range v.Raft {
				if n, ok := fresh[r.ReplicationGroup]; ok && !r.IsLeader && !n.IsLeader {
					v.Raft[i] = n
				}
			}
			return nil
		})
	}
}

// behindSomewhere reports whether a node's log, in a group it follows, is short of
// its leader's commit index.
func behindSomewhere(rs []axonserver.RaftStatus, commit map[string]int64) bool {
	for _, r := range rs {
		if c, ok := commit[r.ReplicationGroup]; ok && !r.IsLeader && r.LastLogIndex < c {
			return true
		}
	}
	return false
}

// clusterView is the cluster-wide views asked of one node during the round of
// questions to every node (Options.ViewFrom).
type clusterView struct {
	t           Target
	pub         []axonserver.Node
	groups      []axonserver.ReplicationGroup
	pubErr, err error
	calls       int
	// With Options.ReuseGroups: index is the node's _admin lastAppliedIndex read
	// before its groups were asked; known a view kept at that index, to be
	// settled once every node answered (takeKnown); kept, that it stood.
	index int64
	known *KnownGroups
	kept  bool
}

// view asks t (whose answers go into v) for /v1/public and the replication groups, in
// the background, as part of the round. With Options.ReuseGroups, when the Cache
// keeps a view t gave (KnownGroups: one to take again, or one worth keeping), it
// asks the groups only once t's Raft status is in.
func (q *asker) view(v *NodeView, t Target) *clusterView {
	cv := &clusterView{t: t, calls: 1}
	q.run(func(ctx context.Context) { cv.pub, cv.pubErr = t.API.Public(ctx) })
	if q.o.ReuseGroups && q.o.Cache.groupsFrom(t.Node) {
		q.groupsAfterRaft(cv, v, q.hintRaftIn)
		return cv
	}
	cv.calls++
	q.run(func(ctx context.Context) { cv.groups, cv.err = t.API.ReplicationGroups(ctx) })
	return cv
}

// use takes the views cv holds into obs when they can stand for observeCluster's:
// the node answered both questions and is an admin node, or no node answered as
// one. A server without replication groups (before 4.4) is left to observeCluster.
func (cv *clusterView) use(ctx context.Context, obs *Observation, timeout time.Duration) bool {
	if cv == nil {
		return false
	}
	me := obs.Nodes[cv.t.Node].Me
	stands := me != nil && cv.pubErr == nil
	if stands && !me.AdminNode {
		for _, v := range obs.Nodes {
			if v.Me != nil && v.Me.AdminNode {
				stands = false
			}
		}
	}
	if stands {
		cv.takeKnown(ctx, obs, timeout)
	}
	obs.Calls += cv.calls
	if !stands || (me.Clustered && cv.err != nil) {
		return false
	}
	obs.From, obs.ClusterErr, obs.Clustered, obs.Public, obs.Groups = cv.t.Node, nil, me.Clustered, cv.pub, nil
	if me.Clustered {
		obs.Groups, obs.GroupsIndex, obs.GroupsKept = cv.groups, cv.index, cv.kept
	}
	return true
}

// observeCluster reads /v1/public and the replication groups from one node that
// answered, preferring an admin node (which knows every node and group).
func observeCluster(ctx context.Context, obs *Observation, targets []Target, timeout time.Duration) {
	var order []Target
	for _, t := range targets {
		v := obs.Nodes[t.Node]
		if t.API == nil || v.Me == nil {
			continue
		}
		order = append(order, t)
	}
	sort.SliceStable(order, func(i, j int) bool {
		return obs.Nodes[order[i].Node].Me.AdminNode && !obs.Nodes[order[j].Node].Me.AdminNode
	})
	if len(order) == 0 {
		obs.ClusterErr = errors.New("no Axon Server node answered")
		return
	}
	for _, t := range order {
		cctx, cancel := context.WithTimeout(ctx, timeout)
		err := readCluster(cctx, obs, t)
		cancel()
		if err == nil {
			obs.From, obs.ClusterErr = t.Node, nil
			return
		}
		obs.ClusterErr = err
	}
}

func readCluster(ctx context.Context, obs *Observation, t Target) error {
	me := obs.Nodes[t.Node].Me
	obs.Clustered = me.Clustered
	pub, err := t.API.Public(ctx)
	obs.Calls++
	if err != nil {
		return err
	}
	obs.Public = pub
	if !me.Clustered {
		obs.Groups = nil
		return nil
	}
	groups, err := t.API.ReplicationGroups(ctx)
	obs.Calls++
	if axonserver.IsNotFound(err) {
		// Before 4.4 there were no replication groups: each context was its own.
		ctxs, cerr := t.API.Contexts(ctx)
		obs.Calls++
		if cerr != nil {
			return cerr
		}
		groups = groupsFromContexts(ctxs)
		err = nil
	}
	if err != nil {
		return err
	}
	obs.Groups = groups
	return nil
}

func groupsFromContexts(ctxs []axonserver.Context) []axonserver.ReplicationGroup {
	byName := map[string]*axonserver.ReplicationGroup{}
	var names []string
	for _, c := range ctxs {
		g := byName[c.Group()]
		if g == nil {
			g = &axonserver.ReplicationGroup{Name: c.Group(), Leader: c.Leader, Roles: c.Members(),
				ChangePending: c.ChangePending, PendingSince: c.PendingSince}
			byName[c.Group()] = g
			names = append(names, c.Group())
		}
		g.Contexts = append(g.Contexts, c)
	}
	sort.Strings(names)
	out := make([]axonserver.ReplicationGroup, 0, len(names))
	for _, n := range names {
		out = append(out, *byName[n])
	}
	return out
}
