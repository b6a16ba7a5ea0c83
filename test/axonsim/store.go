package axonsim

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The node's files: event and snapshot segments per context, replication-log segments per
// group, named and laid out as Axon Server names them (SE 2023.2 StorageProperties: "%020d"
// + suffix under <storage>/<context>; EE's replication log StorageProperties: "%020d.log"
// and ".index" under <log-storage-folder>/<group>). Their contents are deterministic from
// (context, token), so a copy of a store can be checked event for event: EventRecord.

// RecordBytes is the size of one simulated event, snapshot or log entry.
const RecordBytes = 128

// segmentHeader is the start of every segment file: a version byte and an int of flags, as
// Axon Server's segment files begin.
var segmentHeader = []byte{2, 0, 0, 0, 0}

// DefaultSegmentBytes is the simulator's segment size when neither Options.SegmentBytes, the
// topology's storage.segmentBytes nor $AXONSIM_SEGMENT_BYTES says otherwise: small, so segments close within seconds at the
// default write rate (63 records: about 3 s at 20 entries/s). Axon Server's defaults are
// 256 MiB for event segments and 16 MiB for replication-log segments.
const DefaultSegmentBytes = 8192

// SegmentBytesEnv sets the segment size of a Cluster whose Options and topology leave it 0.
const SegmentBytesEnv = "AXONSIM_SEGMENT_BYTES"

// EventRecord is the content of event token (0-based) of ctx: four chained SHA-256 blocks
// of "ctx/token". Snapshots use "snapshot:"+ctx and replication-log entries "log:"+group
// (1-based indexes), so every file's bytes are known in advance.
func EventRecord(ctx string, token int64) []byte {
	out := make([]byte, 0, RecordBytes)
	sum := sha256.Sum256([]byte(ctx + "/" + strconv.FormatInt(token, 10)))
	for len(out) < RecordBytes {
		out = append(out, sum[:]...)
		sum = sha256.Sum256(sum[:])
	}
	return out[:RecordBytes]
}

// EventsChecksum is the checksum a node reports (audit event store-loaded) over the first n
// events of ctx: SHA-256 of their records in token order, hex.
func EventsChecksum(ctx string, n int64) string {
	h := sha256.New()
	for t := int64(0); t < n; t++ {
		h.Write(EventRecord(ctx, t))
	}
	return hex.EncodeToString(h.Sum(nil))
}

// ContextEvents is how many events context k (0-based, in the group's context order) of a
// group with nctx contexts holds when the group's log is at index: entry i (1-based) of the
// group's log is an event of context (i-1) mod nctx.
func ContextEvents(index int64, k, nctx int) int64 {
	if index <= 0 || nctx <= 0 {
		return 0
	}
	n := index / int64(nctx)
	if index%int64(nctx) > int64(k) {
		n++
	}
	return n
}

// stream is one append-only segmented store: the events or the snapshots of a context, or
// a group's replication log.
type stream struct {
	dir        string   // host directory
	ext        string   // data file suffix: .events, .snapshots, .log
	companions []string // written when a segment closes: .index/.bloom, .sindex/.sbloom, .index
	key        string   // what EventRecord derives the records from
	base       int64    // first token: 0 for the event store, 1 for the replication log
	perSeg     int64    // records per segment
}

func (s stream) name(first int64, ext string) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", first, ext))
}

func (s stream) segmentOf(token int64) int64 {
	return s.base + (token-s.base)/s.perSeg*s.perSeg
}

// segments lists the segment numbers that have a data file, ascending.
func (s stream) segments() []int64 {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil
	}
	var out []int64
	for _, e := range entries {
		if e.IsDir() || !strings.HasSuffix(e.Name(), s.ext) {
			continue
		}
		if v, err := strconv.ParseInt(strings.TrimSuffix(e.Name(), s.ext), 10, 64); err == nil {
			out = append(out, v)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

// next is the token after the last record on disk (base for an empty stream), from the
// segment numbers and the active segment's size.
func (s stream) next() int64 {
	segs := s.segments()
	if len(segs) == 0 {
		return s.base
	}
	last := segs[len(segs)-1]
	fi, err := os.Stat(s.name(last, s.ext))
	if err != nil || fi.Size() < int64(len(segmentHeader)) {
		return last
	}
	return last + (fi.Size()-int64(len(segmentHeader)))/RecordBytes
}

// sync brings the stream to hold exactly the records base..upto-1: it appends the missing
// ones (closing full segments) and truncates a divergent tail. The first segment's file
// exists even when the stream is empty, as in Axon Server.
//
// known is the token after the last record as this node start last wrote it (-1: read the
// directory); sync returns the new one.
func (s stream) sync(upto, known int64) (int64, error) {
	upto = max(upto, s.base)
	if known == upto {
		return known, nil // nothing new: no file system calls
	}
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return -1, err
	}
	next := known
	if next < 0 {
		next = s.next()
	}
	if next > upto {
		if err := s.truncate(upto); err != nil {
			return -1, err
		}
		next = upto
	}
	if next == s.base && !fileExists(s.name(s.base, s.ext)) {
		if err := os.WriteFile(s.name(s.base, s.ext), segmentHeader, 0o644); err != nil {
			return -1, err
		}
	}
	for next < upto {
		seg := s.segmentOf(next)
		end := min(upto, seg+s.perSeg)
		buf := make([]byte, 0, (end-next)*RecordBytes+int64(len(segmentHeader)))
		if !fileExists(s.name(seg, s.ext)) {
			buf = append(buf, segmentHeader...)
		}
		for t := next; t < end; t++ {
			buf = append(buf, EventRecord(s.key, t)...)
		}
		f, err := os.OpenFile(s.name(seg, s.ext), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return -1, err
		}
		_, err = f.Write(buf)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return -1, err
		}
		next = end
		if end == seg+s.perSeg { // full: the segment closes and the next one opens
			if err := s.close(seg); err != nil {
				return -1, err
			}
			if err := os.WriteFile(s.name(end, s.ext), segmentHeader, 0o644); err != nil {
				return -1, err
			}
		}
	}
	return next, nil
}

// close writes a closed segment's companion files: an index (the token and offset of each
// record) and, for the event store, a bloom filter (here a digest of the segment).
func (s stream) close(seg int64) error {
	for _, ext := range s.companions {
		var b []byte
		if strings.HasSuffix(ext, "bloom") {
			sum := sha256.Sum256([]byte(s.key + "/bloom/" + strconv.FormatInt(seg, 10)))
			b = sum[:]
		} else {
			for i := int64(0); i < s.perSeg; i++ {
				b = binary.BigEndian.AppendUint64(b, uint64(seg+i))
				b = binary.BigEndian.AppendUint64(b, uint64(int64(len(segmentHeader))+i*RecordBytes))
			}
		}
		if err := os.WriteFile(s.name(seg, ext), b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// truncate drops the records from upto on (a follower's divergent tail).
func (s stream) truncate(upto int64) error {
	keep := s.segmentOf(upto)
	for _, seg := range s.segments() {
		if seg > keep {
			for _, ext := range append([]string{s.ext}, s.companions...) {
				_ = os.Remove(s.name(seg, ext))
			}
		}
	}
	if fileExists(s.name(keep, s.ext)) {
		for _, ext := range s.companions {
			_ = os.Remove(s.name(keep, ext))
		}
		return os.Truncate(s.name(keep, s.ext), int64(len(segmentHeader))+(upto-keep)*RecordBytes)
	}
	return nil
}

// closed lists the closed segments (their companions exist), ascending, and the active one
// (the last data file), -1 if none.
func (s stream) closed() (closed []int64, active int64) {
	active = -1
	segs := s.segments()
	for i, seg := range segs {
		if i == len(segs)-1 {
			active = seg
			break
		}
		closed = append(closed, seg)
	}
	return closed, active
}

// errTornTail: the last segment ends in a partial record (or header): a copy taken while
// it was written.
var errTornTail = errors.New("partial record at the end of the active segment")

// verify reads the stream from disk and checks every record against EventRecord: it
// returns how many records from base on are intact and in sequence, and the checksum over
// them. A missing segment, a short file or a changed byte ends the count there.
func (s stream) verify() (int64, string, error) {
	h := sha256.New()
	next := s.base
	rec := make([]byte, RecordBytes)
	segs := s.segments()
	for i, seg := range segs {
		if seg != next {
			return next - s.base, hex.EncodeToString(h.Sum(nil)), fmt.Errorf("%s: segment %d missing", s.dir, next)
		}
		f, err := os.Open(s.name(seg, s.ext))
		if err != nil {
			return next - s.base, hex.EncodeToString(h.Sum(nil)), err
		}
		last := i == len(segs)-1
		hdr := make([]byte, len(segmentHeader))
		if _, err := io.ReadFull(f, hdr); err != nil {
			f.Close()
			if last {
				return next - s.base, hex.EncodeToString(h.Sum(nil)), errTornTail
			}
			return next - s.base, hex.EncodeToString(h.Sum(nil)), fmt.Errorf("%s: header: %w", s.name(seg, s.ext), err)
		}
		for {
			if _, err := io.ReadFull(f, rec); err != nil {
				if errors.Is(err, io.ErrUnexpectedEOF) {
					f.Close()
					if last {
						return next - s.base, hex.EncodeToString(h.Sum(nil)), errTornTail
					}
					return next - s.base, hex.EncodeToString(h.Sum(nil)), fmt.Errorf("%s: a partial record", s.name(seg, s.ext))
				}
				break
			}
			if string(rec) != string(EventRecord(s.key, next)) {
				f.Close()
				return next - s.base, hex.EncodeToString(h.Sum(nil)), fmt.Errorf("%s: record %d differs", s.name(seg, s.ext), next)
			}
			h.Write(rec)
			next++
		}
		f.Close()
	}
	return next - s.base, hex.EncodeToString(h.Sum(nil)), nil
}

// ---- where a node keeps its files ----

// mount is one volume of the node's container: its path as the node sees it, and the host
// directory behind it.
type mount struct{ path, host string }

// layout resolves the node's configured paths: the working directory (the container's, or
// the data directory itself), its volumes, and the container's own filesystem for any path
// no volume covers (new and empty at every container start, as in Kubernetes).
type layout struct {
	root    string  // the working directory as the node sees it; "" = host paths, relative to dataDir
	dataDir string  // host
	mounts  []mount // longest path first
	rootfs  string  // host directory standing for the container's own filesystem

	events, snapshots, log, controlDB, backup, recovery string // as configured (container view)
}

// Axon Server's property names for the paths the simulator uses.
const (
	PropEventStorage    = "axoniq.axonserver.event.storage"
	PropSnapshotStorage = "axoniq.axonserver.snapshot.storage"
	PropLogStorage      = "axoniq.axonserver.replication.log-storage-folder"
	PropControlDBPath   = "axoniq.axonserver.controldb-path"
	PropControlDBBackup = "axoniq.axonserver.controldb-backup-location"
	PropRecoveryFile    = "axoniq.axonserver.recoveryfile"
)

func newLayout(cfg NodeConfig, rootfs string) layout {
	l := layout{root: cfg.PathRoot, dataDir: cfg.DataDir, rootfs: rootfs}
	prop := func(k, def string) string {
		if v := strings.TrimSpace(cfg.Properties[k]); v != "" {
			return v
		}
		return def
	}
	if l.root == "" {
		// Host paths: everything in the data directory (the simulator's own tests).
		l.events = prop(PropEventStorage, filepath.Join(cfg.DataDir, "events"))
		l.snapshots = prop(PropSnapshotStorage, l.events)
		l.log = prop(PropLogStorage, filepath.Join(cfg.DataDir, "log"))
		l.controlDB = prop(PropControlDBPath, filepath.Join(cfg.DataDir, "controldb"))
		l.backup = prop(PropControlDBBackup, cfg.DataDir)
		l.recovery = prop(PropRecoveryFile, filepath.Join(cfg.DataDir, "recovery.json"))
		return l
	}
	// A container: Axon Server's defaults, relative to its working directory.
	l.events = prop(PropEventStorage, "./data")
	l.snapshots = prop(PropSnapshotStorage, l.events)
	l.log = prop(PropLogStorage, "./log")
	l.controlDB = prop(PropControlDBPath, "./data")
	l.backup = prop(PropControlDBBackup, ".")
	l.recovery = prop(PropRecoveryFile, "./recovery.json")
	for p, h := range cfg.Mounts {
		l.mounts = append(l.mounts, mount{path: filepath.Clean(p), host: h})
	}
	if len(cfg.Mounts) == 0 {
		l.mounts = []mount{{path: filepath.Clean(l.root), host: cfg.DataDir}}
	}
	sort.Slice(l.mounts, func(i, j int) bool { return len(l.mounts[i].path) > len(l.mounts[j].path) })
	return l
}

// abs is p as an absolute path in the node's view.
func (l layout) abs(p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	if l.root == "" {
		return filepath.Join(l.dataDir, p)
	}
	return filepath.Join(l.root, p)
}

// host maps a path of the node's view to the host: through the volume that holds it, else
// into the container's own filesystem.
func (l layout) host(p string) string {
	p = l.abs(p)
	if l.root == "" {
		return p
	}
	for _, m := range l.mounts {
		if p == m.path || strings.HasPrefix(p, m.path+"/") {
			return filepath.Join(m.host, strings.TrimPrefix(p, m.path))
		}
	}
	return filepath.Join(l.rootfs, p)
}

// view maps a host path back to the node's view (what its REST answers name).
func (l layout) view(h string) string {
	if l.root == "" {
		return h
	}
	for _, m := range l.mounts {
		if h == m.host || strings.HasPrefix(h, m.host+"/") {
			return filepath.Join(m.path, strings.TrimPrefix(h, m.host))
		}
	}
	if strings.HasPrefix(h, l.rootfs+"/") {
		return strings.TrimPrefix(h, l.rootfs)
	}
	return h
}

// onVolume reports whether the path (node's view) lies on one of the container's volumes.
func (l layout) onVolume(p string) bool {
	return l.root == "" || !strings.HasPrefix(l.host(p), l.rootfs+"/")
}

// eventStream, snapshotStream and logStream are the node's stores of a context / group.
func (c *Cluster) eventStream(l layout, ctx string) stream {
	return stream{dir: filepath.Join(l.host(l.events), ctx), ext: ".events", companions: []string{".index", ".bloom"},
		key: ctx, perSeg: c.perSegment()}
}

func (c *Cluster) snapshotStream(l layout, ctx string) stream {
	return stream{dir: filepath.Join(l.host(l.snapshots), ctx), ext: ".snapshots", companions: []string{".sindex", ".sbloom"},
		key: "snapshot:" + ctx, perSeg: c.perSegment()}
}

func (c *Cluster) logStream(l layout, g string) stream {
	return stream{dir: filepath.Join(l.host(l.log), g), ext: ".log", companions: []string{".index"},
		key: "log:" + g, base: 1, perSeg: c.perSegment()}
}

func (c *Cluster) perSegment() int64 { return RecordsPerSegment(c.segmentBytes) }

// RecordsPerSegment is how many records a segment of segmentBytes holds (its header and
// whole records; at least one).
func RecordsPerSegment(segmentBytes int) int64 {
	return max(1, int64(segmentBytes-len(segmentHeader))/RecordBytes)
}

// snapshotEvery: the simulated applications store an aggregate snapshot every this many
// events of a context.
const snapshotEvery = 50

// eventContexts are the contexts of g that have an event store: all but _admin (the
// admin context keeps its data in the control DB). The group's log entries are spread over
// them in this order.
func eventContexts(g *group) []string {
	var out []string
	for _, ctx := range g.contexts {
		if ctx != adminGroup {
			out = append(out, ctx)
		}
	}
	return out
}

// storeTarget is what one stream of a node should hold.
type storeTarget struct {
	s    stream
	upto int64
}

// storeTargets lists the node's streams and how far each should be filled: per group it is
// a member (or learner) of, the replication log up to its log index, and, unless the node
// is MESSAGING_ONLY in it, per context with an event store the events and snapshots that
// index implies. Caller holds c.mu.
func (c *Cluster) storeTargets(n *Node) []storeTarget {
	var out []storeTarget
	add := func(g *group, m *member) {
		out = append(out, storeTarget{c.logStream(n.layout, g.name), m.logIndex + 1})
		if m.role == RoleMessagingOnly {
			return
		}
		ctxs := eventContexts(g)
		for k, ctx := range ctxs {
			ev := ContextEvents(m.logIndex, k, len(ctxs))
			out = append(out, storeTarget{c.eventStream(n.layout, ctx), ev},
				storeTarget{c.snapshotStream(n.layout, ctx), ev / snapshotEvery})
		}
	}
	if n.ownGroups != nil {
		for _, g := range n.ownGroups {
			add(g, g.members[0])
		}
		return out
	}
	if !n.knowsCluster {
		return nil
	}
	for _, gname := range c.gnames {
		g := c.groups[gname]
		if m := g.member(n.name); m != nil {
			add(g, m)
		} else if g.pending != nil && g.pending.learner != nil && g.pending.learner.node == n.name {
			add(g, g.pending.learner)
		}
	}
	return out
}

// nodeStore serialises the writes to one node start's files and remembers how far each
// stream is written, so a flush with nothing new costs no file system calls.
type nodeStore struct {
	mu      sync.Mutex
	written map[string]int64 // stream (directory and data file suffix) -> next token on disk
}

// syncLocked brings the targets' files up to date. Caller holds st.mu.
func (c *Cluster) syncLocked(n *Node, st *nodeStore, targets []storeTarget) {
	if st.written == nil {
		st.written = map[string]int64{}
	}
	for _, t := range targets {
		key := filepath.Join(t.s.dir, "*"+t.s.ext) // events and snapshots share a directory
		known, ok := st.written[key]
		if !ok {
			known = -1
		}
		next, err := t.s.sync(t.upto, known)
		if err != nil {
			c.logf("node %s: store %s: %v", n.name, t.s.dir, err)
			delete(st.written, key) // read the directory again next time
			continue
		}
		st.written[key] = next
	}
}

// syncStore writes the node's files up to its log indexes (the node's periodic flush), or,
// with only, just the streams in those directories (a backup listing). It takes the cluster
// lock only to read the targets.
func (c *Cluster) syncStore(n *Node, only ...string) {
	c.mu.Lock()
	if n.state != Running || n.store == nil {
		c.mu.Unlock()
		return
	}
	st, targets := n.store, c.storeTargets(n)
	c.mu.Unlock()
	if len(only) > 0 {
		var kept []storeTarget
		for _, t := range targets {
			if slices.Contains(only, t.s.dir) {
				kept = append(kept, t)
			}
		}
		targets = kept
	}
	st.mu.Lock()
	defer st.mu.Unlock()
	c.syncLocked(n, st, targets)
}

// flushLoop is every node's periodic flush of its stores (storage.flushSeconds).
func (c *Cluster) flushLoop() {
	defer c.wg.Done()
	every := 0.0
	if f := c.topo.Storage.FlushSeconds; f != nil {
		every = *f
	}
	if every <= 0 {
		return // on demand only
	}
	t := time.NewTicker(seconds(every))
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.mu.Lock()
			var running []*Node
			for _, name := range c.names {
				if n := c.nodes[name]; n.state == Running {
					running = append(running, n)
				}
			}
			c.mu.Unlock()
			for _, n := range running {
				c.syncStore(n)
			}
		}
	}
}

// flushStoreLocked writes the node's files up to its log indexes while the caller holds
// c.mu (a clean stop flushes before the process ends).
func (c *Cluster) flushStoreLocked(n *Node) {
	if n.store == nil {
		return
	}
	n.store.mu.Lock()
	defer n.store.mu.Unlock()
	c.syncLocked(n, n.store, c.storeTargets(n))
}
