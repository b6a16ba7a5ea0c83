package axonserver

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
)

const secret = "s3cr3t-t0ken-value-4711"

func newClient(t *testing.T, base string, opts ...Option) *Client {
	t.Helper()
	c, err := New(base, nil, append([]Option{WithNode("axonserver-1")}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var ctx = context.Background()

func TestEE44Reads(t *testing.T) {
	srv, rec := serveFixtures(t, "ee-4.4/public.json", "ee-4.4/me.json", "ee-4.4/cluster.json",
		"ee-4.4/cluster-node.json", "ee-4.4/context.json", "ee-4.4/replicationgroups.json",
		"ee-4.4/roles.json", "ee-4.4/raft-status.json", "ee-4.4/tasks.json", "ee-4.4/info.json",
		"ee-4.4/backup-log-filenames.json", "ee-4.4/backup-filenames.json", "ee-4.4/controldb-backup.txt")
	c := newClient(t, srv.URL, WithToken(StaticToken(NewToken(secret))))

	nodes, err := c.Public(ctx)
	if err != nil || len(nodes) != 3 || nodes[2].Connected || nodes[0].GrpcInternalPort != 8224 {
		t.Fatalf("Public = %+v, %v", nodes, err)
	}
	if got := rec.last().Header.Get(TokenHeader); got != secret {
		t.Errorf("token header = %q", got)
	}
	if got := rec.last().Header.Get("User-Agent"); got != "kubectl-axon/"+Version {
		t.Errorf("user agent = %q", got)
	}
	if strings.Contains(rec.last().URL.RawQuery, secret) {
		t.Error("token sent in query")
	}

	me, err := c.Me(ctx)
	if err != nil || !me.Clustered || !me.AdminNode || me.PluginsEnabled != nil || me.Initialized != nil ||
		len(me.ContextNames) != 2 || me.StorageContextNames[0] != "default" {
		t.Fatalf("Me = %+v, %v", me, err)
	}

	cl, err := c.ClusterNodes(ctx)
	if err != nil || len(cl) != 3 || cl[1].InternalGrpcPort != 8224 || cl[1].Tags["zone"] != "b" {
		t.Fatalf("ClusterNodes = %+v, %v", cl, err)
	}
	one, err := c.ClusterNode(ctx, "axonserver-2")
	if err != nil || one.Name != "axonserver-2" || !one.Connected {
		t.Fatalf("ClusterNode = %+v, %v", one, err)
	}

	ctxs, err := c.Contexts(ctx)
	if err != nil || len(ctxs) != 2 {
		t.Fatalf("Contexts = %+v, %v", ctxs, err)
	}
	if d := ctxs[1]; d.Group() != "default" || d.Leader != "" || !d.ChangePending || d.PendingSince == 0 ||
		len(d.Members()) != 3 || d.Members()[1].Role != RoleActiveBackup || d.MetaData["event.index-format"] == "" {
		t.Errorf("context default = %+v", d)
	}

	rgs, err := c.ReplicationGroups(ctx)
	if err != nil || len(rgs) != 2 || rgs[1].Leader != "" || len(rgs[1].Contexts) != 2 ||
		rgs[1].Contexts[1].ReplicationGroup != "default" || rgs[1].Contexts[1].Roles != nil {
		t.Fatalf("ReplicationGroups = %+v, %v", rgs, err)
	}

	roles, err := c.ReplicationGroupRoles(ctx)
	if err != nil || len(roles) != 5 {
		t.Fatalf("roles = %v, %v", roles, err)
	}

	rs, err := c.RaftStatus(ctx)
	if err != nil || len(rs) != 2 {
		t.Fatalf("RaftStatus = %+v, %v", rs, err)
	}
	if rs[0].ReplicationGroup != "_admin" || !rs[0].IsLeader || rs[1].LeaderName != "axonserver-3" ||
		rs[1].VotedFor != "" || rs[1].LastLogIndex != 58813 || rs[1].Configuration[1].Port != 8224 {
		t.Errorf("raft = %+v", rs)
	}

	tasks, err := c.Tasks(ctx)
	if err != nil || len(tasks) != 1 || tasks[0].Status != "SCHEDULED" || tasks[0].Context != "_admin" {
		t.Fatalf("Tasks = %+v, %v", tasks, err)
	}

	info, err := c.Info(ctx)
	if err != nil || info.App.Version != "4.4.2" {
		t.Fatalf("Info = %+v, %v", info, err)
	}

	logs, err := c.BackupLogFilenames(ctx, "default")
	if err != nil || len(logs) != 2 {
		t.Fatalf("BackupLogFilenames = %v, %v", logs, err)
	}
	files, err := c.BackupFilenames(ctx, "default", "EVENT", -1)
	if err != nil || len(files) != 2 {
		t.Fatalf("BackupFilenames = %v, %v", files, err)
	}
	zip, err := c.CreateControlDBBackup(ctx)
	if err != nil || zip != "/axonserver/data/controldb1612345699000.zip" {
		t.Fatalf("CreateControlDBBackup = %q, %v", zip, err)
	}
}

func TestWrites(t *testing.T) {
	srv, rec := serveFixtures(t, "ee-4.4/join-accepted.json", "ee-4.4/rg-add-accepted.json",
		"ee-4.4/rg-remove-accepted.json", "")
	c := newClient(t, srv.URL)

	no := true
	resp, err := c.JoinCluster(ctx, JoinRequest{InternalHostName: "axonserver-1.axonserver-1.axon.svc.cluster.local", InternalGrpcPort: 8224, NoContexts: &no})
	if err != nil || !resp.Success {
		t.Fatalf("JoinCluster = %+v, %v", resp, err)
	}
	var body map[string]any
	rec.mu.Lock()
	_ = json.Unmarshal(rec.body[len(rec.body)-1], &body)
	ct := rec.reqs[len(rec.reqs)-1].Header.Get("Content-Type")
	rec.mu.Unlock()
	if body["internalGrpcPort"] != float64(8224) || body["noContexts"] != true || ct != "application/json" {
		t.Errorf("join body = %v (content type %q)", body, ct)
	}
	if _, ok := body["context"]; ok {
		t.Error("empty context must be omitted")
	}

	if resp, err := c.AddNodeToReplicationGroup(ctx, "default", "axonserver-2", RoleActiveBackup); err != nil || !resp.Success {
		t.Fatalf("add = %+v, %v", resp, err)
	}
	if resp, err := c.RemoveNodeFromReplicationGroup(ctx, "default", "axonserver-2", false); err != nil || !resp.Success {
		t.Fatalf("remove = %+v, %v", resp, err)
	}
	if r := rec.last(); r.Method != http.MethodDelete || r.URL.RawQuery != "preserveEventStore=false" {
		t.Errorf("remove request = %s %s", r.Method, r.URL)
	}
	// DELETE /v1/cluster/{name}: empty 200 (fixture with no file)
	srv2, rec2 := serveFixtures(t, "")
	if err := newClient(t, srv2.URL).RemoveNode(ctx, "axonserver-3"); err != nil {
		t.Fatalf("RemoveNode: %v", err)
	}
	if r := rec2.last(); r.Method != http.MethodDelete || r.URL.Path != "/v1/cluster/axonserver-3" {
		t.Errorf("RemoveNode request = %s %s", r.Method, r.URL)
	}
}

func TestAxonErrors(t *testing.T) {
	srv, _ := serveFixtures(t, "ee-4.4/cluster-node-unknown.txt", "ee-4.4/join-conflict.json",
		"ee-4.4/rg-update-pending.json", "ee-4.4/rg-remove-last.json")
	c := newClient(t, srv.URL)

	_, err := c.ClusterNode(ctx, "axonserver-9")
	if !IsNotFound(err) || !HasCode(err, CodeNoSuchNode) || IsNotEnterprise(err) {
		t.Fatalf("unknown node: %v", err)
	}
	if want := "axonserver-1: GET /v1/cluster/axonserver-9: HTTP 404 AXONIQ-1301 Node axonserver-9 not found"; err.Error() != want {
		t.Errorf("got  %q\nwant %q", err, want)
	}

	_, err = c.JoinCluster(ctx, JoinRequest{InternalHostName: "x", InternalGrpcPort: 8224})
	var e *Error
	if !errors.As(err, &e) || e.StatusCode != http.StatusConflict || e.Message != "Node already registered in a cluster" {
		t.Fatalf("join conflict: %#v", err)
	}

	_, err = c.AddNodeToReplicationGroup(ctx, "default", "axonserver-2", RolePrimary)
	if !IsUpdateInProgress(err) || !HasCode(err, CodeUpdateInProgress4x) || !strings.Contains(err.Error(), "HTTP 400 AXONIQ-2102 default: Another update is pending") {
		t.Fatalf("pending: %v", err)
	}
	_, err = c.RemoveNodeFromReplicationGroup(ctx, "solo", "axonserver-1", false)
	if !HasCode(err, CodeCannotRemoveLast) || !errors.As(err, &e) || e.StatusCode != http.StatusNotAcceptable {
		t.Fatalf("last node: %v", err)
	}
}

func TestStandardEdition(t *testing.T) {
	srv, _ := serveFixtures(t, "se/me.json", "se/public.json", "se/health-up.json")
	c := newClient(t, srv.URL)
	me, err := c.Me(ctx)
	if err != nil || me.Clustered || me.InternalHostName != "" {
		t.Fatalf("Me = %+v, %v", me, err)
	}
	nodes, err := c.Public(ctx)
	if err != nil || len(nodes) != 1 {
		t.Fatalf("Public = %+v, %v", nodes, err)
	}
	for name, call := range map[string]func() error{
		"replicationgroups": func() error { _, err := c.ReplicationGroups(ctx); return err },
		"cluster":           func() error { _, err := c.ClusterNodes(ctx); return err },
		"context":           func() error { _, err := c.Contexts(ctx); return err },
		"raft":              func() error { _, err := c.RaftStatus(ctx); return err },
	} {
		err := call()
		if !IsNotEnterprise(err) || !IsNotFound(err) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: want not-enterprise, got %v", name, err)
		}
	}
	h, err := c.Health(ctx)
	if err != nil || h.Status != StatusUp || h.Component("raft") != nil || h.Component("diskSpace") == nil {
		t.Fatalf("Health = %+v, %v", h, err)
	}
}

func TestOlderAndNewerShapes(t *testing.T) {
	srv, _ := serveFixtures(t, "ee-4.3/context.json")
	ctxs, err := newClient(t, srv.URL).Contexts(ctx)
	if err != nil || len(ctxs) != 2 {
		t.Fatalf("4.3 contexts = %+v, %v", ctxs, err)
	}
	if d := ctxs[1]; d.Group() != "default" || d.ReplicationGroup != "" || len(d.Nodes) != 3 || d.Members()[2].Role != RoleMessagingOnly {
		t.Errorf("4.3 context = %+v", d)
	}
	// nodes only, no roles: members default to PRIMARY
	if m := (Context{Context: "x", Nodes: []string{"a", "b"}}).Members(); len(m) != 2 || m[1] != (NodeRole{"b", RolePrimary}) {
		t.Errorf("Members = %v", m)
	}

	srv45, _ := serveFixtures(t, "ee-4.5/me.json", "ee-4.5/backup-eventstore.json")
	c := newClient(t, srv45.URL)
	me, err := c.Me(ctx)
	if err != nil || me.PluginsEnabled == nil || *me.PluginsEnabled || me.Initialized != nil || !me.SSL {
		t.Fatalf("4.5 me = %+v, %v", me, err)
	}
	bk, err := c.BackupEventStore(ctx, EventStoreBackupQuery{Context: "default", Type: "EVENT", LastClosedSegmentBackedUp: -1, LastClosedVersionBackedUp: -1})
	if err != nil || bk.LastClosedSegment != 50000 || len(bk.Filenames) != 2 {
		t.Fatalf("eventstore = %+v, %v", bk, err)
	}

	srv23, _ := serveFixtures(t, "ee-2023/me.json")
	me, err = newClient(t, srv23.URL).Me(ctx)
	if err != nil || me.Initialized == nil || !*me.Initialized || me.PluginsEnabled == nil || !*me.PluginsEnabled {
		t.Fatalf("2023 me = %+v, %v", me, err)
	}

	// raft status with the later "replicationGroup" key and name/role in configuration
	var rs RaftStatus
	if err := json.Unmarshal([]byte(`{"replicationGroup":"g","configuration":[{"id":"i","name":"n","host":"h","port":1,"role":"PRIMARY"}]}`), &rs); err != nil ||
		rs.ReplicationGroup != "g" || rs.Configuration[0].Role != RolePrimary || rs.Configuration[0].Name != "n" {
		t.Fatalf("raft status new shape = %+v, %v", rs, err)
	}
}

func TestHealthShapes(t *testing.T) {
	for _, tc := range []struct {
		file, status, raftStatus, key, want string
	}{
		{"ee-4.4/health-up.json", StatusUp, StatusUp, "default.leader", "axonserver-3"},
		{"ee-4.4/health-warn.json", StatusWarn, StatusWarn, "default.leader", "None"},
		{"ee-4.5/health-warn.json", StatusWarn, StatusWarn, "default.follower.axonserver-3.status", "BEHIND"},
		{"ee-4.5/health-down.json", StatusDown, StatusDown, "_admin.leader", "None"}, // served with 503
	} {
		t.Run(tc.file, func(t *testing.T) {
			srv, _ := serveFixtures(t, tc.file)
			h, err := newClient(t, srv.URL).Health(ctx)
			if err != nil {
				t.Fatal(err)
			}
			raft := h.Component("raft")
			if h.Status != tc.status || raft == nil || raft.Status != tc.raftStatus || raft.Detail(tc.key) != tc.want {
				t.Fatalf("health = %+v raft=%+v", h, raft)
			}
			if h.Details != nil {
				t.Errorf("top-level details should have become components: %v", h.Details)
			}
			disk := h.Component("diskSpace")
			if disk != nil && (disk.Components != nil || disk.Detail("threshold") != "10485760") {
				t.Errorf("diskSpace = %+v", disk)
			}
			if c := h.Component("cluster"); c == nil || len(c.DetailKeys()) != 2 {
				t.Errorf("cluster = %+v", c)
			}
		})
	}
	if Severity(StatusDown) <= Severity(StatusOutOfService) || Severity(StatusWarn) <= Severity(StatusUp) || Severity("x") != 0 {
		t.Error("severity order")
	}
}

func TestInvalidTokenAndForbidden(t *testing.T) {
	srv, _ := serveFixtures(t, "errors/invalid-token.txt", "errors/forbidden.json")
	c := newClient(t, srv.URL, WithToken(StaticToken(NewToken(secret))))
	_, err := c.Me(ctx)
	if !IsInvalidToken(err) || !IsForbidden(err) || !errors.Is(err, ErrInvalidToken) {
		t.Fatalf("want invalid token, got %v", err)
	}
	if strings.Contains(err.Error(), secret) {
		t.Fatal("token in error")
	}
	_, err = c.RaftStatus(ctx)
	if !IsForbidden(err) || IsInvalidToken(err) || !strings.Contains(err.Error(), "HTTP 403 Forbidden") {
		t.Fatalf("forbidden: %v", err)
	}
	// header-only variant: AXONIQ-1001 with any body
	e := &Error{StatusCode: 403, Code: CodeInvalidToken}
	if !IsInvalidToken(e) {
		t.Error("code AXONIQ-1001 must be invalid token")
	}
}

func TestMalformedAnswers(t *testing.T) {
	for file, want := range map[string]string{
		"errors/truncated.json":  "axonserver-1: GET /v1/public/me: malformed JSON: unexpected end of input",
		"errors/malformed.json":  "axonserver-1: GET /v1/public/me: malformed JSON at offset",
		"errors/wrong-type.json": "axonserver-1: GET /v1/public/me: malformed JSON: field grpcPort: got string, want int",
	} {
		srv, _ := serveFixtures(t, file)
		_, err := newClient(t, srv.URL).Me(ctx)
		if err == nil || !strings.HasPrefix(err.Error(), want) || !errors.Is(err, ErrMalformedResponse) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: got %v, want prefix %q", file, err, want)
		}
	}
	srv, _ := serveFixtures(t, "errors/html-500.html")
	_, err := newClient(t, srv.URL).Public(ctx)
	if err == nil || err.Error() != "axonserver-1: GET /v1/public: HTTP 500 Internal Server Error" {
		t.Errorf("html 500: %v", err)
	}
}

func TestNewValidatesURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8024", "ftp://x", "://x"} {
		if _, err := New(u, nil); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
	c, err := New("http://h:8024/api/v1/namespaces/n/pods/p:8024/proxy/", nil)
	if err != nil || c.BaseURL() != "http://h:8024/api/v1/namespaces/n/pods/p:8024/proxy" {
		t.Fatalf("%v %v", c, err)
	}
}

// TestReadBodyWhateverTheAnnouncedLength: the body is read whole whether the
// answer announces its length right, too short, too long or not at all.
func TestReadBodyWhateverTheAnnouncedLength(t *testing.T) {
	for _, n := range []int64{-1, 0, 3, 5, 6, 100} {
		resp := &http.Response{ContentLength: n, Body: io.NopCloser(strings.NewReader("hello"))}
		if b, err := readBody(resp); err != nil || string(b) != "hello" {
			t.Errorf("Content-Length %d: %q, %v", n, b, err)
		}
	}
}
