// Package axonsim simulates a cluster of Axon Server Enterprise nodes over HTTP: the REST
// and actuator endpoints kubectl axon uses, shaped after the public Axon Server sources
// (the EE 4.4.2 code and the 4.5-2023.2 code EE shares with SE), each node behaving as its
// image's version (4.4 to 2025.x), driven by a Raft model per replication group, with an audit
// log of every event that a safety claim can be judged by. See README.md and its fidelity table.
package axonsim

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"time"
)

// NodeState is a simulated node's process state.
type NodeState int

// Node states.
const (
	Stopped  NodeState = iota // not running (never started, stopped, killed)
	Starting                  // process runs its consistency checks; the listener is not bound yet
	Running                   // serving HTTP and taking part in Raft
	Stopping                  // clean shutdown: flushing, no longer serving
)

func (s NodeState) String() string {
	return [...]string{"Stopped", "Starting", "Running", "Stopping"}[s]
}

// Options configure a Cluster.
type Options struct {
	Audit io.Writer                        // audit log (one JSON line per event); nil: kept in memory only
	Logf  func(format string, args ...any) // diagnostics; nil: silent
	Seed  int64                            // random source for restErrorRate and election tie-breaks
	// TickInterval drives the Raft model (default 50ms).
	TickInterval time.Duration
	// OnRequest, when set, is called with every REST request a node receives
	// (tests count what a client asks of each node).
	OnRequest func(node, method, path string)
	// SegmentBytes is the size at which event, snapshot and replication-log segments close
	// (0: the topology's storage.segmentBytes, else $AXONSIM_SEGMENT_BYTES, else DefaultSegmentBytes).
	SegmentBytes int
	// Namespace, when set, is written into every audit event of this cluster
	// (Event.Namespace): several clusters that share one audit log (the sandbox runs a
	// cluster per Kubernetes namespace) are told apart by it. "" for the main cluster.
	Namespace string
	// CAOf, with TLS, makes this cluster sign its nodes' certificates with that cluster's
	// CA instead of a new one, so one CA file serves clients of both.
	CAOf *Cluster
}

// NodeConfig is how one node process is started.
type NodeConfig struct {
	Listen        string // "10.244.0.11:8024", or "127.0.0.1:0" for tests; bound once startup is done
	AdvertiseHost string // hostName/internalHostName it reports; default: the listen host
	Image         string // the version comes from the tag; "" = topology image
	DataDir       string // the node's data; "" = a directory owned by the Cluster (kept across restarts)
	// Autocluster overrides the topology's autocluster settings for this start (the node's
	// axoniq.axonserver.autocluster.* properties); a non-nil value with First "" turns
	// autocluster off for it. nil = the topology's.
	Autocluster *Autocluster
	// PathRoot is where the node's data paths are in /actuator/env: the container's view
	// of its volumes (the sandbox: "/axonserver", as kubectl axon generate mounts them:
	// events, log, data). "" = the data directory itself.
	PathRoot string
	// Mounts are the container's volumes: path as the node sees it (under PathRoot) -> host
	// directory. A configured path that no volume holds is on the container's own
	// filesystem: empty at every start. nil with PathRoot set: PathRoot is DataDir.
	Mounts map[string]string
	// Properties are the node's configured storage properties (PropEventStorage,
	// PropLogStorage, PropControlDBPath, PropControlDBBackup, PropRecoveryFile, ...); a
	// property not set has Axon Server's default, relative to the working directory (PathRoot).
	Properties map[string]string
}

// Cluster is a simulated Axon Server EE cluster.
type Cluster struct {
	topo *Topology
	opts Options
	tm   raftTiming

	mu       sync.Mutex
	rng      *rand.Rand
	nodes    map[string]*Node
	names    []string // sorted
	groups   map[string]*group
	gnames   []string // sorted
	ctxGroup map[string]string
	events   []Event
	changed  chan struct{}
	tasks    []*task
	taskSeq  int
	// adminDigest is adminTables() as _admin's log last recorded it (recordAdminChange).
	adminDigest uint64
	// adminSetUp is the length of _admin's log when the cluster was set up (initAdminLog).
	adminSetUp int64
	closed     bool
	tmpDir     string
	ca         *certAuthority

	segmentBytes int

	stop chan struct{}
	wg   sync.WaitGroup
}

// Node is one simulated Axon Server node.
type Node struct {
	c    *Cluster
	name string
	spec NodeSpec

	// guarded by c.mu
	state        NodeState
	gen          int // incremented on every start/stop, cancels stale goroutines
	cfg          NodeConfig
	image        string
	version      string
	dataDir      string
	host         string
	port         int
	url          string
	srv          *http.Server
	fault        Fault
	everStarted  bool
	registered   bool     // listed by the cluster (/v1/cluster)
	knowsCluster bool     // its own controldb knows the cluster (false on a lost volume until it joins)
	ownGroups    []*group // a cluster of its own: autocluster.first initialised it on an empty control DB
	joinTarget   string
	joinContext  *joinRequest
	// autoRegister: this process registers with autocluster.first once it can. AutoCluster
	// runs once, at start, and only on a node with no groups and no peers; a node
	// unregistered while it runs stays outside the cluster until it is restarted.
	autoRegister bool
	readyAt      time.Time
	initializing bool      // serving HTTP, event stores not initialised yet (4.5.3+)
	initUntil    time.Time // end of that window
	crashAt      time.Time
	crashImage   string        // the image crashes counts starts of (crashCount fault)
	crashes      int           // crashes of the crashAfterSeconds fault on crashImage
	partition    *partition    // cut off from the other nodes (nil: not partitioned)
	wake         chan struct{} // closed to interrupt a StopNode waiting for its flush
	log          []string      // its log lines (Axon Server's format), the last nodeLogLines
	licenseSeen  string        // the license state it last logged ("" none yet)
	startAt      time.Time     // when this start began
	layout       layout        // where this start keeps its files
	store        *nodeStore    // serialises the writes to them
}

// NewCluster creates a cluster from a validated topology. No node runs until StartNode.
func NewCluster(t *Topology, opts Options) (*Cluster, error) {
	if t == nil {
		return nil, errors.New("nil topology")
	}
	if opts.TickInterval <= 0 {
		opts.TickInterval = 50 * time.Millisecond
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = t.Storage.SegmentBytes
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = DefaultSegmentBytes
		if v, err := strconv.Atoi(os.Getenv(SegmentBytesEnv)); err == nil && v > 0 {
			opts.SegmentBytes = v
		}
	}
	tmp, err := os.MkdirTemp("", "axonsim-"+t.Name+"-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{
		topo:     t,
		opts:     opts,
		tm:       t.Timing.normalized(),
		rng:      rand.New(rand.NewSource(opts.Seed)),
		nodes:    map[string]*Node{},
		groups:   map[string]*group{},
		ctxGroup: map[string]string{},
		changed:  make(chan struct{}),
		tmpDir:   tmp,
		stop:     make(chan struct{}),

		segmentBytes: opts.SegmentBytes,
	}
	if t.TLS {
		if opts.CAOf != nil && opts.CAOf.ca != nil {
			c.ca = opts.CAOf.ca
		} else if c.ca, err = newCA(t.Name); err != nil {
			return nil, err
		}
	}
	now := time.Now()
	for _, ns := range t.Nodes {
		// A spare node is unknown to the cluster until it registers.
		c.nodes[ns.Name] = &Node{c: c, name: ns.Name, spec: ns, registered: !ns.Spare, knowsCluster: !ns.Spare, port: 8024}
		c.names = append(c.names, ns.Name)
	}
	sort.Strings(c.names)
	for _, gs := range t.ReplicationGroups {
		g := &group{name: gs.Name, contexts: gs.ContextNames(), leaderLostAt: now}
		for _, n := range sortedKeys(gs.Roles) {
			g.members = append(g.members, &member{node: n, role: gs.Roles[n]})
		}
		for _, ctx := range g.contexts {
			c.ctxGroup[ctx] = g.name
		}
		c.groups[g.name] = g
		c.gnames = append(c.gnames, g.name)
	}
	sort.Strings(c.gnames)
	c.initAdminLog()
	c.wg.Add(2)
	go c.loop()
	go c.flushLoop()
	return c, nil
}

// Topology returns the cluster's topology.
func (c *Cluster) Topology() *Topology { return c.topo }

// CACertPEM returns the CA certificate (PEM) that signed every node's certificate; nil without TLS.
func (c *Cluster) CACertPEM() []byte {
	if c.ca == nil {
		return nil
	}
	return append([]byte(nil), c.ca.certPEM...)
}

// Node returns the named node, nil if the topology has no such node.
func (c *Cluster) Node(name string) *Node {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.nodes[name]
}

// NodeNames returns every node's name, sorted.
func (c *Cluster) NodeNames() []string { return append([]string(nil), c.names...) }

// Name returns the node's name.
func (n *Node) Name() string { return n.name }

// URL returns the node's base URL once it is listening, "" before.
func (n *Node) URL() string {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	if n.state != Running {
		return ""
	}
	return n.url
}

// State returns the node's process state.
func (n *Node) State() NodeState {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.state
}

// Version returns the Axon Server version of the running (or last run) image.
func (n *Node) Version() string {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.version
}

// DataDir returns the node's data directory ("" before its first start).
func (n *Node) DataDir() string {
	n.c.mu.Lock()
	defer n.c.mu.Unlock()
	return n.dataDir
}

func (c *Cluster) logf(format string, args ...any) {
	if c.opts.Logf != nil {
		c.opts.Logf(format, args...)
	}
}

// emit records an event. Caller holds c.mu.
func (c *Cluster) emit(e Event) {
	e.Time = time.Now()
	e.Namespace = c.opts.Namespace
	c.events = append(c.events, e)
	if c.opts.Audit != nil {
		b, _ := json.Marshal(e)
		_, _ = c.opts.Audit.Write(append(b, '\n'))
	}
	c.logf("audit: %s group=%s node=%s %s", e.Event, e.Group, e.Node, e.Reason)
	close(c.changed)
	c.changed = make(chan struct{})
}

// Events returns every event so far.
func (c *Cluster) Events() []Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]Event(nil), c.events...)
}

// WaitFor waits until cond holds for the cluster's events (checked after every event and
// every tick) or timeout passes. cond runs without the cluster lock held.
func (c *Cluster) WaitFor(timeout time.Duration, cond func(events []Event) bool) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(c.opts.TickInterval)
	defer tick.Stop()
	for {
		c.mu.Lock()
		ev := c.events[:len(c.events):len(c.events)]
		ch := c.changed
		c.mu.Unlock()
		if cond(ev) {
			return nil
		}
		select {
		case <-ch:
		case <-tick.C:
		case <-deadline.C:
			return fmt.Errorf("condition not met within %v", timeout)
		}
	}
}

// StartNode starts a node process. It returns at once; the consistency checks run in the
// background and the node binds cfg.Listen when they are done.
func (c *Cluster) StartNode(name string, cfg NodeConfig) (*Node, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, errors.New("cluster closed")
	}
	n := c.nodes[name]
	if n == nil {
		return nil, fmt.Errorf("unknown node %q", name)
	}
	if n.state != Stopped {
		return nil, fmt.Errorf("node %s is already %s", name, n.state)
	}
	if cfg.Listen == "" {
		cfg.Listen = "127.0.0.1:0"
	}
	host, _, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("listen %q: %w", cfg.Listen, err)
	}
	if cfg.AdvertiseHost == "" {
		cfg.AdvertiseHost = host
	}
	if cfg.Image == "" {
		cfg.Image = c.topo.Image
	}
	if cfg.DataDir == "" {
		cfg.DataDir = filepath.Join(c.tmpDir, name)
	}
	if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
		return nil, err
	}
	// A new container: its own filesystem starts empty.
	rootfs := filepath.Join(c.tmpDir, "rootfs", name)
	if err := os.RemoveAll(rootfs); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(rootfs, 0o755); err != nil {
		return nil, err
	}
	n.layout = newLayout(cfg, rootfs)
	n.store = &nodeStore{}
	n.cfg = cfg
	n.image = cfg.Image
	n.version = VersionFromImage(cfg.Image)
	n.dataDir = cfg.DataDir
	n.host = cfg.AdvertiseHost
	n.fault = c.topo.faultsFor(name, cfg.Image)
	if cfg.Image != n.crashImage { // a crashCount counts the crashes on one image
		n.crashImage, n.crashes = cfg.Image, 0
	}
	unclean := fileExists(filepath.Join(cfg.DataDir, runningMarker))
	if err := os.WriteFile(filepath.Join(cfg.DataDir, runningMarker), []byte(strconv.Itoa(os.Getpid())), 0o644); err != nil {
		return nil, err
	}
	n.gen++
	n.state = Starting
	n.wake = make(chan struct{})
	reason := ""
	if unclean {
		reason = "previous shutdown was unclean"
	}
	n.startAt = time.Now()
	c.emit(Event{Event: EvNodeStarted, Node: name, Reason: reason})
	startup := c.topo.Timing.StartupSeconds
	if n.fault.StartupSeconds != nil {
		startup = *n.fault.StartupSeconds
	}
	if unclean {
		startup += c.topo.Timing.UncleanStartupSeconds
	}
	if !versionAtLeast3(n.version, 4, 5, 3) {
		// Before 4.5.3 the HTTP port opens only once the event stores are initialised.
		startup += c.topo.Timing.StoreInitSeconds
	}
	gen := n.gen
	c.wg.Add(1)
	go c.boot(n, gen, seconds(startup))
	return n, nil
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// boot waits for the consistency checks, then binds the listener and starts serving.
func (c *Cluster) boot(n *Node, gen int, startup time.Duration) {
	defer c.wg.Done()
	c.mu.Lock()
	wake := n.wake
	neverReady := n.fault.NeverReady
	c.mu.Unlock()
	if neverReady {
		select {
		case <-wake:
		case <-c.stop:
		}
		return
	}
	t := time.NewTimer(startup)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake:
		return
	case <-c.stop:
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.gen != gen || n.state != Starting {
		return
	}
	ln, err := net.Listen("tcp", n.cfg.Listen)
	if err != nil {
		c.logf("node %s: listen %s: %v", n.name, n.cfg.Listen, err)
		c.markKilled(n, "listen failed: "+err.Error())
		return
	}
	scheme := "http"
	if c.ca != nil {
		cert, err := c.ca.issue(n.host, ln.Addr().(*net.TCPAddr).IP)
		if err != nil {
			ln.Close()
			c.logf("node %s: certificate: %v", n.name, err)
			c.markKilled(n, "certificate: "+err.Error())
			return
		}
		ln = tlsListener(ln, cert)
		scheme = "https"
	}
	n.port = ln.Addr().(*net.TCPAddr).Port
	n.url = fmt.Sprintf("%s://%s", scheme, ln.Addr().String())
	if err := c.loadNodeData(n); err != nil {
		ln.Close()
		c.logf("node %s: data: %v", n.name, err)
		c.markKilled(n, "data directory: "+err.Error())
		return
	}
	n.srv = &http.Server{Handler: c.handler(n), ReadHeaderTimeout: 10 * time.Second, ErrorLog: quietLog()}
	n.state = Running
	if f := c.topo.Storage.FlushSeconds; f != nil && *f > 0 {
		c.wg.Add(1)
		go func() { // the node's stores as its logs stand, without holding the cluster lock
			defer c.wg.Done()
			c.syncStore(n)
		}()
	}
	n.everStarted = true
	n.readyAt = time.Now()
	n.initializing = c.tm.storeInit > 0 && versionAtLeast3(n.version, 4, 5, 3)
	n.initUntil = n.readyAt.Add(c.tm.storeInit)
	n.crashAt = time.Time{}
	if c.crashesThisStart(n) {
		n.crashAt = n.readyAt.Add(seconds(*n.fault.CrashAfterSeconds))
	}
	n.forgetLeaders()
	c.nodeLog(n, "INFO", "i.a.axonserver.AxonServer", fmt.Sprintf("Started AxonServer in %.3f seconds (version %s, node %s)", time.Since(n.startAt).Seconds(), n.version, n.name))
	n.licenseSeen = "" // a start reads the license again
	c.licenseHealth(n, n.readyAt)
	c.emit(Event{Event: EvNodeReady, Node: n.name})
	srv := n.srv
	go func() { _ = srv.Serve(ln) }()
	c.evaluate(time.Now())
}

// StopNode stops a node cleanly: it stops serving, flushes for shutdownSeconds and stops.
// If the flush would take longer than grace, the node is killed (unclean) at grace.
// It blocks until the node has stopped.
func (c *Cluster) StopNode(name string, grace time.Duration) error {
	c.mu.Lock()
	n := c.nodes[name]
	if n == nil {
		c.mu.Unlock()
		return fmt.Errorf("unknown node %q", name)
	}
	if n.state == Stopped || n.state == Stopping {
		c.mu.Unlock()
		return nil
	}
	flush := c.topo.Timing.ShutdownSeconds
	if n.fault.ShutdownSeconds != nil {
		flush = *n.fault.ShutdownSeconds
	}
	n.gen++
	gen := n.gen
	c.closeServer(n)
	n.state = Stopping
	old := n.wake
	n.wake = make(chan struct{})
	close(old) // stops a pending boot
	wake := n.wake
	c.evaluate(time.Now())
	c.mu.Unlock()

	wait, clean := seconds(flush), true
	if grace >= 0 && wait > grace {
		wait, clean = grace, false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
	case <-wake: // killed meanwhile
	case <-c.stop:
		clean = false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if n.gen != gen || n.state != Stopping {
		return nil // killed meanwhile
	}
	if !clean {
		c.markKilled(n, fmt.Sprintf("shutdown takes %.1fs, exceeds grace period %v", flush, grace))
		return nil
	}
	c.persistNodeData(n)
	if f := c.topo.Storage.FlushSeconds; f != nil && *f > 0 {
		c.flushStoreLocked(n) // on demand only: the files are written when a listing asks
	}
	_ = os.Remove(filepath.Join(n.dataDir, runningMarker))
	n.state = Stopped
	c.emit(Event{Event: EvNodeStopped, Node: n.name})
	c.evaluate(time.Now())
	return nil
}

// KillNode stops a node uncleanly and at once (SIGKILL, OOM, node failure).
func (c *Cluster) KillNode(name string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[name]
	if n == nil {
		return fmt.Errorf("unknown node %q", name)
	}
	if n.state == Stopped {
		return nil
	}
	c.markKilled(n, "killed")
	return nil
}

// markKilled stops n uncleanly. Caller holds c.mu.
func (c *Cluster) markKilled(n *Node, reason string) {
	n.gen++
	c.closeServer(n)
	if n.state == Running || n.state == Stopping {
		c.persistNodeData(n) // Raft's log is fsync'ed: what was written survives
	}
	n.state = Stopped
	close(n.wake)
	n.wake = make(chan struct{})
	c.emit(Event{Event: EvNodeKilled, Node: n.name, Reason: reason})
	c.evaluate(time.Now())
}

func (c *Cluster) closeServer(n *Node) {
	if n.srv != nil {
		_ = n.srv.Close()
		n.srv = nil
	}
}

// Close kills every running node (no events for them) and releases the Cluster's resources.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	for _, n := range c.nodes {
		c.closeServer(n)
	}
	close(c.stop)
	c.mu.Unlock()
	c.wg.Wait()
	return os.RemoveAll(c.tmpDir)
}

func (c *Cluster) loop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.TickInterval)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			c.mu.Lock()
			c.tick(now)
			c.mu.Unlock()
		}
	}
}

// tick advances time-driven behaviour: crashes, joins, the Raft model. Caller holds c.mu.
func (c *Cluster) tick(now time.Time) {
	for _, name := range c.names {
		n := c.nodes[name]
		if n.state == Running && !n.crashAt.IsZero() && !now.Before(n.crashAt) {
			n.crashes++
			c.markKilled(n, c.crashReason(n))
		}
	}
	c.healDue(now)
	c.processJoins(now)
	c.evaluate(now)
	c.processTasks(now)
	c.recordAdminChange()
}

// crashesThisStart reports whether the crashAfterSeconds fault kills this start of n: always
// without a crashCount, else only until n has crashed crashCount times on its image. Caller
// holds c.mu.
func (c *Cluster) crashesThisStart(n *Node) bool {
	f := n.fault
	return f.CrashAfterSeconds != nil && (f.CrashCount == 0 || n.crashes < f.CrashCount)
}

// crashReason is the node-killed reason of a crash fault; it names crashAfterSeconds (the chaos
// suite excuses quorum lost while a crashed node is down by it) and, with a crashCount, which
// crash of how many this is.
func (c *Cluster) crashReason(n *Node) string {
	if k := n.fault.CrashCount; k > 0 {
		return fmt.Sprintf("crashAfterSeconds fault (crash %d of %d, crashCount)", n.crashes, k)
	}
	return "crashAfterSeconds fault"
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
