package backup

import (
	"archive/zip"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

func groups() []axonserver.ReplicationGroup {
	g := func(name string, ctxs ...string) axonserver.ReplicationGroup {
		r := axonserver.ReplicationGroup{Name: name}
		for _, c := range ctxs {
			r.Contexts = append(r.Contexts, axonserver.Context{Context: c})
		}
		return r
	}
	return []axonserver.ReplicationGroup{g("_admin", "_admin", "default"), g("orders", "orders", "invoices"), g("audit", "audit")}
}

func TestSelect(t *testing.T) {
	s, err := Select(groups(), nil)
	if err != nil || strings.Join(s.Contexts, ",") != "audit,default,invoices,orders" || strings.Join(s.Groups, ",") != "_admin,audit,orders" {
		t.Errorf("all: %+v %v", s, err)
	}
	s, err = Select(groups(), []string{"invoices", "invoices"})
	if err != nil || strings.Join(s.Contexts, ",") != "invoices" || strings.Join(s.Groups, ",") != "orders" {
		t.Errorf("invoices: %+v %v", s, err)
	}
	if _, err := Select(groups(), []string{"nope"}); err == nil || !strings.Contains(err.Error(), "default, invoices, orders") {
		t.Errorf("unknown: %v", err)
	}
	if _, err := Select(groups(), []string{"_admin"}); err == nil {
		t.Error("_admin's own context selected")
	}
}

// cluster builds a model: members "node:ROLE" per group, leader first, every node
// connected and caught up unless listed in unwell.
func cluster(spec map[string][]string, unwell ...string) quorum.Cluster {
	var c quorum.Cluster
	seen := map[string]bool{}
	bad := map[string]bool{}
	for _, u := range unwell {
		bad[u] = true
	}
	for name, members := range spec {
		g := quorum.Group{Name: name}
		for i, m := range members {
			node, role, _ := strings.Cut(m, ":")
			if i == 0 {
				g.Leader = node
			}
			g.Members = append(g.Members, quorum.Member{Node: node, Role: quorum.Role(role), Up: true, CaughtUp: !bad[node]})
			if !seen[node] {
				seen[node] = true
				c.Nodes = append(c.Nodes, quorum.Node{Name: node, PodReady: true, Connected: true})
			}
		}
		c.Groups = append(c.Groups, g)
	}
	return c
}

func TestChooseSource(t *testing.T) {
	sel := Selection{Contexts: []string{"orders"}, GroupOf: map[string]string{"orders": "orders"}, Groups: []string{"orders"}}
	both := Selection{Contexts: []string{"default", "orders"}, Groups: []string{"_admin", "orders"}}
	for _, tc := range []struct {
		name     string
		c        quorum.Cluster
		sel      Selection
		given    string
		want, db string
		why      string
		err      string
	}{
		{name: "a passive backup node first",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY", "c:ACTIVE_BACKUP", "d:PASSIVE_BACKUP"}, "_admin": {"a:PRIMARY", "b:PRIMARY"}}),
			sel: sel, want: "d", db: "b", why: "backup member"},
		{name: "an active backup before a follower",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY", "c:ACTIVE_BACKUP"}}),
			sel: sel, want: "c", why: "backup member"},
		{name: "a follower, the _admin member among equals",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY", "c:PRIMARY"}, "_admin": {"a:PRIMARY", "c:PRIMARY"}}),
			sel: sel, want: "c", db: "c", why: "leads none"},
		{name: "an unwell backup node is passed over",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY", "d:PASSIVE_BACKUP"}}, "d"),
			sel: sel, want: "b"},
		{name: "messaging-only and secondary hold no whole store",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "m:MESSAGING_ONLY", "s:SECONDARY"}}),
			sel: sel, want: "a", why: "it leads orders"},
		{name: "leader of one group, follower of the other",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY"}, "_admin": {"b:PRIMARY", "a:PRIMARY"}}),
			sel: both, want: "a", why: "it leads orders", db: "a"},
		{name: "nobody holds both",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY"}, "_admin": {"c:PRIMARY", "d:PRIMARY"}}),
			sel: both, err: "no node stores every selected context"},
		{name: "given, and fit",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY", "d:PASSIVE_BACKUP"}}),
			sel: sel, given: "a", want: "a", why: "--node"},
		{name: "given, not a member",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY"}, "_admin": {"a:PRIMARY", "c:PRIMARY"}}),
			sel: sel, given: "c", err: "does not store every selected context"},
		{name: "given, behind",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY"}}, "b"),
			sel: sel, given: "b", err: "not caught up in orders"},
		{name: "given, unknown",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY"}}),
			sel: sel, given: "z", err: "not in the cluster"},
		{name: "every holder unwell",
			c:   cluster(map[string][]string{"orders": {"a:PRIMARY", "b:PRIMARY"}}, "a", "b"),
			sel: sel, err: "unwell"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, err := ChooseSource(tc.c, tc.sel, tc.given)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, %v; want error %q", src, err, tc.err)
				}
				return
			}
			if err != nil || src.Node != tc.want || !strings.Contains(src.Reason, tc.why) {
				t.Fatalf("got %+v, %v; want %s (%s)", src, err, tc.want, tc.why)
			}
			if tc.db != "" && src.ControlDB != tc.db {
				t.Errorf("control DB on %s, want %s", src.ControlDB, tc.db)
			}
		})
	}
}

func TestCheckStorage(t *testing.T) {
	mounts := []Mount{{Volume: "events", Path: "/axonserver/events", Persistent: true}, {Volume: "data", Path: "/axonserver/data", Persistent: true},
		{Volume: "log", Path: "/axonserver/log", Persistent: true}, {Volume: "tmp", Path: "/tmp"}}
	good := Storage{Events: "/axonserver/events", Snapshots: "/axonserver/events", Log: "./log", ControlDBBackup: "/axonserver/data/backup"}
	got, err := CheckStorage(good, "/axonserver", mounts)
	if err != nil || got.Log != "/axonserver/log" {
		t.Errorf("good: %+v %v", got, err)
	}
	for _, tc := range []struct {
		s    Storage
		want string
	}{
		{Storage{Events: "/axonserver/events", Snapshots: "/axonserver/events", Log: "/axonserver/log", ControlDBBackup: "."}, "controldb-backup-location=/axonserver is on the container's own filesystem"},
		{Storage{Events: "/axonserver/eventsX", Snapshots: "/axonserver/events", Log: "/axonserver/log", ControlDBBackup: "/axonserver/data"}, "event.storage=/axonserver/eventsX"},
		{Storage{Events: "/axonserver/events", Snapshots: "/axonserver/events", Log: "/tmp/log", ControlDBBackup: "/axonserver/data"}, "volume tmp, which is not a PersistentVolumeClaim"},
	} {
		if _, err := CheckStorage(tc.s, "/axonserver", mounts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: %v, want %q", tc.s, err, tc.want)
		}
	}
}

// writeBackup lays out a small backup: a Control DB zip, and the segments of
// "orders" after segment after up to last (segments are named by their first
// token; every 10 tokens), with the active one after them.
func writeBackup(t *testing.T, dir string, after, last int64) *Manifest {
	t.Helper()
	m := &Manifest{Format: Format, Cluster: "c", Namespace: "ns", Node: "a", Complete: true, Started: time.Now().UTC(),
		Contexts: map[string]map[string]*Segments{"orders": {"EVENT": {After: after, LastClosed: last}}}}
	put := func(rel string, data []byte) {
		p := filepath.Join(dir, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h := NewHasher()
		h.Write(data)
		m.Files = append(m.Files, h.File(rel))
	}
	zp := filepath.Join(dir, "controldb", "controldb1.zip")
	os.MkdirAll(filepath.Dir(zp), 0o755)
	f, _ := os.Create(zp)
	zw := zip.NewWriter(f)
	w, _ := zw.Create("axonserver-controldb.mv.db")
	w.Write([]byte("{}"))
	zw.Close()
	f.Close()
	b, _ := os.ReadFile(zp)
	os.Remove(zp)
	put("controldb/controldb1.zip", b)
	m.ControlDB = "controldb/controldb1.zip"
	seg := m.Contexts["orders"]["EVENT"]
	for first := after + 1; first <= last+10; first += 10 {
		name := fmt.Sprintf("events/orders/%020d", first)
		put(name+".events", []byte(name))
		seg.Files = append(seg.Files, name+".events")
		if first <= last {
			put(name+".index", []byte("i"))
			seg.Files = append(seg.Files, name+".index")
		}
	}
	if err := m.Write(dir); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestVerify(t *testing.T) {
	dir := t.TempDir()
	writeBackup(t, dir, -1, 10) // segments 0 and 10 closed, 20 active
	if m, problems, err := Verify(dir); err != nil || len(problems) > 0 || m.NewClosedSegments() != 2 {
		t.Fatalf("sound backup: %v %v", problems, err)
	}
	// Changed bytes, a lost index, a broken zip: each is found.
	seg := filepath.Join(dir, "events/orders/00000000000000000010.events")
	b, _ := os.ReadFile(seg)
	b[0] ^= 0xff // one byte changed, the size kept
	os.WriteFile(seg, b, 0o644)
	os.Remove(filepath.Join(dir, "events/orders/00000000000000000000.index"))
	os.WriteFile(filepath.Join(dir, "controldb/controldb1.zip"), []byte("PK"), 0o644)
	_, problems, err := Verify(dir)
	joined := strings.Join(problems, "\n")
	for _, want := range []string{"00000000000000000010.events: checksum differs", "00000000000000000000.index: open", "controldb1.zip"} {
		if err != nil || !strings.Contains(joined, want) {
			t.Errorf("want %q among:\n%s (%v)", want, joined, err)
		}
	}
	if _, _, err := Verify(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a kubectl axon backup") {
		t.Errorf("empty dir: %v", err)
	}
}

func TestContinuity(t *testing.T) {
	have := map[string]bool{}
	files := []string{"events/o/00000000000000000010.events", "events/o/00000000000000000010.index", "events/o/00000000000000000030.events"}
	for _, f := range files {
		have[f] = true
	}
	// Segment 20 (the last closed one) is missing.
	got := continuity(&Segments{After: 9, LastClosed: 20, Files: files}, "EVENT", have)
	if len(got) != 1 || !strings.Contains(got[0], "last closed segment 00000000000000000020 is missing") {
		t.Errorf("missing last closed: %v", got)
	}
	// A segment at or before the previous backup's last one.
	got = continuity(&Segments{After: 10, LastClosed: 10, Files: files}, "EVENT", have)
	if len(got) == 0 || !strings.Contains(got[0], "not after the previous backup's") {
		t.Errorf("overlap: %v", got)
	}
}

func TestContinues(t *testing.T) {
	prev := &Manifest{Cluster: "c", Namespace: "ns", Contexts: map[string]map[string]*Segments{"o": {"EVENT": {LastClosed: 20}}}}
	next := &Manifest{Cluster: "c", Namespace: "ns", Contexts: map[string]map[string]*Segments{"o": {"EVENT": {After: 20}}, "n": {"EVENT": {After: -1}}}}
	if p := Continues(prev, next); len(p) != 0 {
		t.Errorf("continues: %v", p)
	}
	next.Contexts["o"]["EVENT"].After = 9
	if p := Continues(prev, next); len(p) != 1 || !strings.Contains(p[0], "previous backup ends with 20") {
		t.Errorf("gap: %v", p)
	}
	next.Cluster = "d"
	if p := Continues(prev, next); len(p) != 1 || !strings.Contains(p[0], "cluster") {
		t.Errorf("other cluster: %v", p)
	}
}

func TestSize(t *testing.T) {
	for n, want := range map[int64]string{0: "0 B", 1023: "1023 B", 1536: "1.5 KiB", 5 << 20: "5.0 MiB", 3 << 30: "3.0 GiB"} {
		if got := Size(n); got != want {
			t.Errorf("Size(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestPastWindow(t *testing.T) {
	at := time.Date(2026, 11, 27, 3, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name     string
		exported time.Time
		finished time.Time
		past     bool
	}{
		{"before the export", time.Time{}, at, false},
		{"not finished", at, time.Time{}, false},
		{"within", at, at.Add(29 * time.Minute), false},
		{"exactly the window", at, at.Add(Window), false},
		{"a second past", at, at.Add(Window + time.Second), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, past := Step{Finished: tc.finished}.PastWindow(tc.exported)
			if past != tc.past || (past && d != tc.finished.Sub(tc.exported)) {
				t.Errorf("PastWindow = %s, %v; want past %v", d, past, tc.past)
			}
		})
	}
}
