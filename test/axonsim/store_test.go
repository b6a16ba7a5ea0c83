package axonsim

import (
	"archive/zip"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// storeTopology: one group with two contexts, writing fast, so that segments of four
// records close several times a second.
func storeTopology(extra string) string {
	return `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
writesPerSecond: 200
nodes: [{name: axonserver-1}, {name: axonserver-2}, {name: axonserver-3}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
  - name: orders
    contexts: [orders, invoices]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PASSIVE_BACKUP}
` + fastTiming + extra
}

// fourPerSegment closes a segment every four records.
const fourPerSegment = 5 + 4*RecordBytes

func newStoreCluster(t *testing.T, topoYAML string) *testCluster {
	t.Helper()
	topo, err := ParseTopology([]byte(topoYAML))
	if err != nil {
		t.Fatalf("topology: %v", err)
	}
	audit := &syncBuffer{}
	c, err := NewCluster(topo, Options{Audit: audit, Seed: 1, TickInterval: 10 * time.Millisecond, SegmentBytes: fourPerSegment})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &testCluster{Cluster: c, t: t, audit: audit}
}

func (tc *testCluster) eventStore(node, ctx, query string) JSONBackupEventStore {
	tc.t.Helper()
	var out JSONBackupEventStore
	if code, _, b := tc.get(node, "/v1/backup/eventstore?targetContext="+ctx+"&type=EVENT"+query, &out); code != 200 {
		tc.t.Fatalf("eventstore %s: %d %s", ctx, code, b)
	}
	return out
}

// waitClosed waits until node's ctx has closed at least k segments.
func (tc *testCluster) waitClosed(node, ctx string, k int64) JSONBackupEventStore {
	tc.t.Helper()
	var out JSONBackupEventStore
	tc.waitFor(fmt.Sprintf("%s: %d closed segments of %s", node, k, ctx), func([]Event) bool {
		out = tc.eventStore(node, ctx, "")
		return out.LastClosedSegment >= (k-1)*4
	})
	return out
}

func TestStoreSegmentsFillAndClose(t *testing.T) {
	tc := newStoreCluster(t, storeTopology(""))
	tc.startAll()
	es := tc.waitClosed("axonserver-2", "invoices", 3)
	dir := filepath.Join(tc.Node("axonserver-2").DataDir(), "events", "invoices")
	active := es.Filenames[0]
	if !strings.HasSuffix(active, ".events") || filepath.Dir(active) != dir {
		t.Fatalf("first file %q: want the active segment's .events in %s", active, dir)
	}
	// Every closed segment up to lastClosedSegment with its .events, .index and .bloom,
	// and nothing else.
	want := map[string]bool{active: true}
	for seg := int64(0); seg <= es.LastClosedSegment; seg += 4 {
		for _, ext := range []string{".events", ".index", ".bloom"} {
			want[filepath.Join(dir, fmt.Sprintf("%020d%s", seg, ext))] = true
		}
	}
	for _, f := range es.Filenames {
		if !want[f] {
			t.Errorf("unexpected file %s", f)
		}
		delete(want, f)
		if !fileExists(f) {
			t.Errorf("listed file %s does not exist", f)
		}
	}
	if len(want) > 0 {
		t.Errorf("missing from the listing: %v", want)
	}
	// Incremental: only the closed segments after the one already backed up, and the active one.
	inc := tc.eventStore("axonserver-2", "invoices", fmt.Sprintf("&lastClosedSegmentBackedUp=%d", es.LastClosedSegment-4))
	for _, f := range inc.Filenames[1:] {
		var seg int64
		fmt.Sscanf(filepath.Base(f), "%d", &seg)
		if seg <= es.LastClosedSegment-4 {
			t.Errorf("incremental listing has %s, at or before segment %d", f, es.LastClosedSegment-4)
		}
	}
	listed := map[string]bool{}
	for _, f := range inc.Filenames {
		listed[f] = true
	}
	for _, ext := range []string{".events", ".index", ".bloom"} { // the newest closed segment of the first listing
		if f := filepath.Join(dir, fmt.Sprintf("%020d%s", es.LastClosedSegment, ext)); !listed[f] {
			t.Errorf("incremental listing lacks %s: %v", f, inc.Filenames)
		}
	}
	// The contents: every record is the one EventRecord derives, in sequence.
	tc.syncStore(tc.Node("axonserver-2"))
	n, sum, err := tc.eventStream(tc.Node("axonserver-2").layout, "invoices").verify()
	if err != nil || n < 12 || sum != EventsChecksum("invoices", n) {
		t.Fatalf("verify: %d events, %v, checksum %s want %s", n, err, sum, EventsChecksum("invoices", n))
	}
	// Both contexts of the group share its log: their counts differ by at most one.
	o, _, _ := tc.eventStream(tc.Node("axonserver-2").layout, "orders").verify()
	if d := o - n; d < -1 || d > 1+2*200 { // the flush may land between the two
		t.Errorf("orders %d, invoices %d events", o, n)
	}
	// Snapshots, the replication log, and the errors.
	var snaps JSONBackupEventStore
	if code, _, b := tc.get("axonserver-1", "/v1/backup/eventstore?targetContext=orders&type=snapshot", &snaps); code != 200 || len(snaps.Filenames) == 0 || !strings.HasSuffix(snaps.Filenames[0], ".snapshots") {
		t.Errorf("snapshots: %d %s", code, b)
	}
	var logs []string
	if code, _, b := tc.get("axonserver-3", "/v1/backup/log/filenames?context=orders", &logs); code != 200 || len(logs) < 3 {
		t.Errorf("log filenames: %d %s", code, b)
	}
	for _, f := range logs {
		if !strings.HasPrefix(f, filepath.Join(tc.Node("axonserver-3").DataDir(), "log", "orders")+"/") || !fileExists(f) {
			t.Errorf("log file %s", f)
		}
	}
	if code, _, _ := tc.get("axonserver-1", "/v1/backup/eventstore?targetContext=orders", nil); code != http.StatusBadRequest {
		t.Errorf("no type: %d, want 400", code)
	}
	if code, _, _ := tc.get("axonserver-1", "/v1/backup/eventstore?targetContext=nope&type=EVENT", nil); code != http.StatusNotFound {
		t.Errorf("unknown context: %d, want 404", code)
	}
	if code, _, _ := tc.get("axonserver-1", "/v1/backup/eventstore?targetContext=_admin&type=EVENT", nil); code != http.StatusNotFound {
		t.Errorf("_admin has no event store: %d, want 404", code)
	}
}

// TestControlDBBackupLocation: the zip lands where controldb-backup-location says; with
// Axon Server's default "." that is the container's working directory, which no volume holds:
// the file is gone after a restart.
func TestControlDBBackupLocation(t *testing.T) {
	tmp := t.TempDir() // before the cluster: removed after it closed
	tc := newStoreCluster(t, storeTopology(""))
	vol := map[string]string{}
	mounts := func(name string) map[string]string {
		base := filepath.Join(tmp, name)
		vol[name] = base
		return map[string]string{"/axonserver/data": base + "/data", "/axonserver/events": base + "/events", "/axonserver/log": base + "/log"}
	}
	props := map[string]string{PropEventStorage: "/axonserver/events", PropLogStorage: "/axonserver/log", PropControlDBPath: "/axonserver/data"}
	for _, name := range tc.NodeNames() {
		p := props
		if name == "axonserver-2" {
			p = map[string]string{PropEventStorage: "/axonserver/events", PropLogStorage: "/axonserver/log", PropControlDBPath: "/axonserver/data",
				PropControlDBBackup: "/axonserver/data/backup"}
		}
		if _, err := tc.StartNode(name, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: name, DataDir: filepath.Join(tmp, name, "data"),
			PathRoot: "/axonserver", Mounts: mounts(name), Properties: p}); err != nil {
			t.Fatal(err)
		}
	}
	tc.waitStable()
	es := tc.waitClosed("axonserver-1", "orders", 2)
	if !strings.HasPrefix(es.Filenames[0], "/axonserver/events/orders/") {
		t.Errorf("paths as the node sees them: %v", es.Filenames)
	}
	if !fileExists(filepath.Join(vol["axonserver-1"], "events", "orders", "00000000000000000000.events")) {
		t.Errorf("segment not on the events volume")
	}
	code, _, b := tc.do(http.MethodPost, "axonserver-1", "/v1/backup/createControlDbBackup", nil, nil)
	if code != 200 || !strings.HasPrefix(string(b), "/axonserver/controldb") || !strings.HasSuffix(string(b), ".zip") {
		t.Fatalf("default location: %d %s", code, b)
	}
	onRootfs := filepath.Join(tc.tmpDir, "rootfs", "axonserver-1", string(b))
	if !fileExists(onRootfs) {
		t.Fatalf("zip %s not on the container's filesystem (%s)", b, onRootfs)
	}
	code, _, b = tc.do(http.MethodPost, "axonserver-2", "/v1/backup/createControlDbBackup", nil, nil)
	if code != 200 || !strings.HasPrefix(string(b), "/axonserver/data/backup/controldb") {
		t.Fatalf("configured location: %d %s", code, b)
	}
	zipOnVolume := filepath.Join(vol["axonserver-2"], "data", strings.TrimPrefix(string(b), "/axonserver/data"))
	db, err := ReadControlDBBackup(zipOnVolume)
	if err != nil {
		t.Fatal(err)
	}
	if db.Cluster != "axonserver" || len(db.Nodes) != 3 || len(db.ReplicationGroups) != 2 || db.ReplicationGroups[1].Members["axonserver-3"] != RolePassiveBackup {
		t.Errorf("control DB: %+v", db)
	}
	// A restart is a new container: the zip in the working directory is gone, the one on
	// the volume stays.
	must(t, tc.StopNode("axonserver-1", time.Minute))
	must(t, tc.StopNode("axonserver-2", time.Minute))
	for _, name := range []string{"axonserver-1", "axonserver-2"} {
		if _, err := tc.StartNode(name, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: name, DataDir: filepath.Join(vol[name], "data"),
			PathRoot: "/axonserver", Mounts: map[string]string{"/axonserver/data": vol[name] + "/data", "/axonserver/events": vol[name] + "/events", "/axonserver/log": vol[name] + "/log"},
			Properties: props}); err != nil {
			t.Fatal(err)
		}
	}
	if fileExists(onRootfs) {
		t.Errorf("%s survived a container restart", onRootfs)
	}
	if !fileExists(zipOnVolume) {
		t.Errorf("%s on the data volume is gone", zipOnVolume)
	}
}

// copyTree copies the regular files under src to dst.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	must(t, filepath.Walk(src, func(p string, fi os.FileInfo, err error) error {
		if err != nil || fi.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		must(t, os.MkdirAll(filepath.Dir(filepath.Join(dst, rel)), 0o755))
		return os.WriteFile(filepath.Join(dst, rel), b, 0o644)
	}))
}

func unzipControlDB(t *testing.T, zipPath, dir string) {
	t.Helper()
	zr, err := zip.OpenReader(zipPath)
	must(t, err)
	defer zr.Close()
	for _, f := range zr.File {
		rc, err := f.Open()
		must(t, err)
		b, err := io.ReadAll(rc)
		rc.Close()
		must(t, err)
		must(t, os.MkdirAll(dir, 0o755))
		must(t, os.WriteFile(filepath.Join(dir, f.Name), b, 0o644))
	}
}

// TestRestoreLoadsStore: a backup taken by the documented procedure (control DB zip, then
// the replication logs, then the event files while the groups write) and restored into
// fresh directories of a new cluster: every node loads its stores, reports per context the
// events it holds with their checksum, honours recovery.json, and writes on after them.
func TestRestoreLoadsStore(t *testing.T) {
	a := newStoreCluster(t, storeTopology(""))
	a.startAll()
	a.waitClosed("axonserver-1", "orders", 3)
	backup := t.TempDir()
	for _, node := range a.NodeNames() {
		code, _, zipPath := a.do(http.MethodPost, node, "/v1/backup/createControlDbBackup", nil, nil)
		if code != 200 {
			t.Fatalf("controldb backup: %d", code)
		}
		dst := filepath.Join(backup, node)
		unzipControlDB(t, string(zipPath), filepath.Join(dst, "controldb"))
		for _, g := range []string{"_admin", "orders"} {
			var logs []string
			a.get(node, "/v1/backup/log/filenames?context="+g, &logs)
			for _, f := range logs {
				copyTree(t, f, filepath.Join(dst, "log", g, filepath.Base(f)))
			}
		}
		if node == "axonserver-3" {
			continue // a PASSIVE_BACKUP member keeps the events too, copied below for 1 and 2 only
		}
		for _, ctx := range []string{"orders", "invoices"} {
			for _, f := range a.eventStore(node, ctx, "").Filenames {
				copyTree(t, f, filepath.Join(dst, "events", ctx, filepath.Base(f)))
			}
		}
	}
	// Corrupt nothing, but cut the active segment of axonserver-1's orders mid-record, as a
	// copy taken while it was written: the node drops the torn record.
	segs := stream{dir: filepath.Join(backup, "axonserver-1", "events", "orders"), ext: ".events", base: 0, perSeg: 4}.segments()
	last := filepath.Join(backup, "axonserver-1", "events", "orders", fmt.Sprintf("%020d.events", segs[len(segs)-1]))
	fi, err := os.Stat(last)
	must(t, err)
	must(t, os.Truncate(last, fi.Size()+RecordBytes/2)) // zero bytes: half a record
	rec, _ := json.Marshal([]RecoveryEntry{{Name: "axonserver-1", HostName: "axonserver-1.restored", InternalHostName: "axonserver-1.restored"}})
	must(t, os.WriteFile(filepath.Join(backup, "axonserver-1", "recovery.json"), rec, 0o644))

	b := newStoreCluster(t, storeTopology(""))
	for _, node := range b.NodeNames() {
		host := node
		if node == "axonserver-1" {
			host = "axonserver-1.restored"
		}
		if _, err := b.StartNode(node, NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: host, DataDir: filepath.Join(backup, node)}); err != nil {
			t.Fatal(err)
		}
	}
	b.waitStable()
	loaded := Filter(b.Events(), EvStoreLoaded, "", "")
	if len(loaded) != 6 { // three nodes, two contexts
		t.Fatalf("store-loaded events: %d\n%s", len(loaded), b.audit.String())
	}
	for _, e := range loaded {
		if e.Node == "axonserver-3" {
			continue
		}
		if e.Events < 8 || e.Checksum != EventsChecksum(e.Context, e.Events) || e.Index != e.Events-1 || e.Group != "orders" {
			t.Errorf("%s %s: %d events, index %d, checksum %s, want %s", e.Node, e.Context, e.Events, e.Index, e.Checksum, EventsChecksum(e.Context, e.Events))
		}
	}
	if len(Filter(b.Events(), EvRecoveryApplied, "", "axonserver-1")) != 1 {
		t.Errorf("no recovery-applied on axonserver-1:\n%s", b.audit.String())
	}
	// The restored cluster writes on after what it loaded.
	first := Filter(loaded, EvStoreLoaded, "", "axonserver-2")[0]
	b.waitFor("writes after the restore", func([]Event) bool {
		es := b.eventStore("axonserver-2", first.Context, "")
		return es.LastClosedSegment >= first.Events+8
	})
	n, sum, err := b.eventStream(b.Node("axonserver-2").layout, first.Context).verify()
	if err != nil && err != errTornTail || sum != EventsChecksum(first.Context, n) {
		t.Errorf("store after the restore: %d events, %v", n, err)
	}
}

// TestRestoreRefusesDamagedStore: a changed record in a closed segment stops the start,
// as Axon Server's segment validation does; so does a malformed recovery.json.
func TestRestoreRefusesDamagedStore(t *testing.T) {
	a := newStoreCluster(t, storeTopology(""))
	a.startAll()
	a.waitClosed("axonserver-1", "orders", 2)
	must(t, a.StopNode("axonserver-1", time.Minute))
	src := a.Node("axonserver-1").DataDir()
	for _, tc := range []struct{ name, damage string }{{"record", "record"}, {"recovery", "recovery"}} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			copyTree(t, filepath.Join(src, "events"), filepath.Join(dir, "events"))
			copyTree(t, filepath.Join(src, "log"), filepath.Join(dir, "log"))
			copyTree(t, filepath.Join(src, "controldb"), filepath.Join(dir, "controldb"))
			switch tc.damage {
			case "record":
				f := filepath.Join(dir, "events", "orders", "00000000000000000000.events")
				bs, err := os.ReadFile(f)
				must(t, err)
				bs[5+RecordBytes+3] ^= 0xff
				must(t, os.WriteFile(f, bs, 0o644))
			case "recovery":
				must(t, os.WriteFile(filepath.Join(dir, "recovery.json"), []byte(`{"name":"axonserver-1"}`), 0o644))
			}
			b := newStoreCluster(t, storeTopology(""))
			_, err := b.StartNode("axonserver-1", NodeConfig{Listen: "127.0.0.1:0", AdvertiseHost: "axonserver-1", DataDir: dir})
			must(t, err)
			b.waitFor("start refused", has(EvNodeKilled, "", "axonserver-1"))
			if e := Filter(b.Events(), EvNodeKilled, "", "axonserver-1")[0]; !strings.Contains(e.Reason, "data directory") {
				t.Errorf("reason %q", e.Reason)
			}
		})
	}
}

// TestStoreOnDemand: with storage.flushSeconds 0 a node writes no files until a backup
// listing asks, and then only the listed context's; what it writes is the same.
func TestStoreOnDemand(t *testing.T) {
	tc := newStoreCluster(t, storeTopology("storage: {flushSeconds: 0}\n"))
	tc.startAll()
	tc.waitFor("entries written", func([]Event) bool {
		tc.mu.Lock()
		defer tc.mu.Unlock()
		return tc.groups["orders"].commitIndex > 40
	})
	dir := filepath.Join(tc.Node("axonserver-1").DataDir(), "events")
	if fileExists(filepath.Join(dir, "orders")) || fileExists(filepath.Join(dir, "invoices")) {
		t.Fatalf("files written without a listing")
	}
	es := tc.eventStore("axonserver-1", "orders", "")
	if es.LastClosedSegment < 16 || !fileExists(es.Filenames[0]) {
		t.Fatalf("listing on demand: %+v", es)
	}
	if fileExists(filepath.Join(dir, "invoices")) {
		t.Errorf("the other context's files were written too")
	}
	n, sum, err := tc.eventStream(tc.Node("axonserver-1").layout, "orders").verify()
	if err != nil || n < 20 || sum != EventsChecksum("orders", n) {
		t.Errorf("verify: %d %v", n, err)
	}
}

func TestStorageTopology(t *testing.T) {
	for _, bad := range []string{"storage: {segmentBytes: 10}\n", "storage: {flushSeconds: -1}\n"} {
		if _, err := ParseTopology([]byte(storeTopology(bad))); err == nil || !strings.Contains(err.Error(), "storage.") {
			t.Errorf("%q: %v", bad, err)
		}
	}
	topo, err := ParseTopology([]byte(storeTopology("")))
	if err != nil || *topo.Storage.FlushSeconds != 1 {
		t.Errorf("default flush: %v %v", err, topo.Storage.FlushSeconds)
	}
	big, err := LoadTopology("../../examples/topologies/big.yaml")
	if err != nil || *big.Storage.FlushSeconds != 0 {
		t.Errorf("big.yaml: flush %v, want on demand (%v)", big.Storage.FlushSeconds, err)
	}
}

// TestLostVolumeRestartsBeforeJoining: a node on a fresh volume keeps an empty control DB;
// restarted before it joins, it is not mistaken for a restored node.
func TestLostVolumeRestartsBeforeJoining(t *testing.T) {
	tc := newTestCluster(t, threeNodes(""))
	tc.startAll()
	dir := tc.Node("axonserver-3").DataDir()
	must(t, tc.StopNode("axonserver-3", time.Minute))
	must(t, os.RemoveAll(dir))
	for i := 1; i <= 2; i++ {
		before := len(tc.Events())
		tc.start("axonserver-3")
		tc.waitFor("ready", func(ev []Event) bool { return len(Filter(ev[before:], EvNodeReady, "", "axonserver-3")) == 1 })
		if !fileExists(filepath.Join(dir, "controldb", ControlDBFile)) {
			t.Fatalf("start %d: no control DB file", i)
		}
		must(t, tc.StopNode("axonserver-3", time.Minute))
	}
	if n := len(Filter(tc.Events(), EvNodeKilled, "", "axonserver-3")) + len(Filter(tc.Events(), EvStoreLoaded, "", "axonserver-3")); n != 0 {
		t.Errorf("a node on a fresh volume was killed or loaded a store:\n%s", tc.audit.String())
	}
}
