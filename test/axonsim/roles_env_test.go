package axonsim

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestAnalyticsRole: ANALYTICS (2025.2+) is accepted in topologies and, on a 2025.2 node, in
// POST /v1/replicationgroups; it never votes. Older versions refuse it like any unknown
// role (Role.valueOf: 500).
func TestAnalyticsRole(t *testing.T) {
	topo := `name: axonserver
image: axoniq/axonserver:2025.2.0-nonroot
nodes: [{name: n1}, {name: n2}, {name: n3}, {name: n4}, {name: n5}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}
  - name: g
    contexts: [g]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: ANALYTICS}
` + fastTiming
	tc := newTestCluster(t, topo)
	tc.startAll()
	var roles []string
	tc.get("n1", "/v1/replicationgroups/roles", &roles)
	if !strings.Contains(strings.Join(roles, ","), RoleAnalytics) {
		t.Errorf("2025.2 roles: %v", roles)
	}
	if code, _, body := tc.do(http.MethodPost, "n1", "/v1/replicationgroups/g/n5?role=ANALYTICS", nil, nil); code != 202 {
		t.Fatalf("add ANALYTICS: %d %s", code, body)
	}
	tc.waitFor("added", has(EvMemberAdded, "g", "n5"))
	// Non-voting: stopping both ANALYTICS members and one PRIMARY keeps the quorum.
	must(t, tc.StopNode("n4", time.Minute))
	must(t, tc.StopNode("n5", time.Minute))
	waitTicks(tc, 20)
	if n := tc.count(EvQuorumLost, "g"); n != 0 {
		t.Fatalf("ANALYTICS counted as a voter: %d quorum-lost", n)
	}

	old := newTestCluster(t, strings.Replace(topo, "2025.2.0", "2024.2.0", 1))
	old.startAll()
	old.get("n1", "/v1/replicationgroups/roles", &roles)
	if strings.Contains(strings.Join(roles, ","), RoleAnalytics) {
		t.Errorf("2024.2 roles: %v", roles)
	}
	if code, _, body := old.do(http.MethodPost, "n1", "/v1/replicationgroups/g/n5?role=ANALYTICS", nil, nil); code != 500 {
		t.Errorf("ANALYTICS on 2024.2: %d %s", code, body)
	}
}

// TestUnknownRoles: a role name no version knows is refused unless allowUnknownRoles is set;
// then it is accepted in the topology and in REST, and does not vote.
func TestUnknownRoles(t *testing.T) {
	base := `name: c
image: axoniq/axonserver:2025.2.0-nonroot
nodes: [{name: a}, {name: b}, {name: x}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {a: PRIMARY, b: PRIMARY, x: FUTURE_ROLE}
` + fastTiming
	if _, err := ParseTopology([]byte(base)); err == nil || !strings.Contains(err.Error(), "bad role \"FUTURE_ROLE\"") {
		t.Fatalf("unknown role without allowUnknownRoles: %v", err)
	}
	tc := newTestCluster(t, base+"allowUnknownRoles: true\n")
	tc.startAll()
	must(t, tc.KillNode("x"))
	waitTicks(tc, 20)
	if n := tc.count(EvQuorumLost, ""); n != 0 {
		t.Fatalf("unknown role voted: %d quorum-lost", n)
	}
	if code, _, body := tc.do(http.MethodPost, "a", "/v1/replicationgroups/_admin/x?role=lower", nil, nil); code != 500 {
		t.Errorf("not a role name: %d %s", code, body)
	}
}

// TestActuatorEnv: the effective properties in Spring Boot's env format, secrets masked, a
// per-node min-active-backups, and the masked/absent modes.
func TestActuatorEnv(t *testing.T) {
	topo := `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
accessToken: s3cret
nodes: [{name: axonserver-1}, {name: axonserver-2, minActiveBackups: 2}, {name: axonserver-3}]
replicationGroups:
  - name: _admin
    contexts: [_admin, default]
    roles: {axonserver-1: PRIMARY, axonserver-2: PRIMARY, axonserver-3: PRIMARY}
autocluster: {first: axonserver-1, contexts: [_admin, default]}
` + fastTiming
	props := func(tc *testCluster, node string) (int, map[string]any) {
		var env struct {
			PropertySources []struct {
				Name       string
				Properties map[string]struct{ Value any }
			}
		}
		code, _, _ := tc.get(node, "/actuator/env", &env)
		out := map[string]any{}
		for _, ps := range env.PropertySources {
			for k, v := range ps.Properties {
				out[k] = v.Value
			}
		}
		return code, out
	}
	tc := newTestCluster(t, topo)
	tc.startAll()
	for _, cs := range []struct{ node, min string }{{"axonserver-1", "1"}, {"axonserver-2", "2"}} {
		code, p := props(tc, cs.node)
		if code != 200 || p["axoniq.axonserver.replication.min-active-backups"] != cs.min {
			t.Errorf("%s: %d min-active-backups %v", cs.node, code, p["axoniq.axonserver.replication.min-active-backups"])
		}
		if p["axoniq.axonserver.autocluster.first"] != "axonserver-1" || p["axoniq.axonserver.autocluster.contexts"] != "_admin,default" ||
			p["axoniq.axonserver.accesscontrol.enabled"] != "true" || p["axoniq.axonserver.accesscontrol.internal-token"] != "******" {
			t.Errorf("%s: %v", cs.node, p)
		}
		for _, k := range []string{"axoniq.axonserver.controldb-backup-location", "axoniq.axonserver.replication.log-storage-folder", "axoniq.axonserver.event.storage"} {
			if s, _ := p[k].(string); !strings.HasPrefix(s, tc.Node(cs.node).DataDir()) {
				t.Errorf("%s: %s = %v", cs.node, k, p[k])
			}
		}
	}
	// /actuator stays open without a token.
	if resp, err := http.Get(tc.Node("axonserver-1").URL() + "/actuator/env"); err != nil || resp.StatusCode != 200 {
		t.Errorf("env without token: %v %v", resp, err)
	}
	masked := newTestCluster(t, topo+"actuatorEnv: masked\n")
	masked.start("axonserver-1")
	masked.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	if _, p := props(masked, "axonserver-1"); p["axoniq.axonserver.replication.min-active-backups"] != "******" {
		t.Errorf("masked: %v", p)
	}
	absent := newTestCluster(t, topo+"actuatorEnv: absent\n")
	absent.start("axonserver-1")
	absent.waitFor("ready", has(EvNodeReady, "", "axonserver-1"))
	if code, _ := props(absent, "axonserver-1"); code != 404 {
		t.Errorf("absent: %d", code)
	}
}

// TestPerNodeMinActiveBackups: the leader applies its own min-active-backups.
func TestPerNodeMinActiveBackups(t *testing.T) {
	topo := `name: axonserver
image: axoniq/axonserver:2024.1.0-nonroot
nodes: [{name: n1, minActiveBackups: 2}, {name: n2, minActiveBackups: 2}, {name: n3, minActiveBackups: 2}, {name: n4}, {name: n5}]
replicationGroups:
  - name: _admin
    contexts: [_admin]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}
  - name: g
    contexts: [g]
    roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY, n4: ACTIVE_BACKUP, n5: ACTIVE_BACKUP}
` + fastTiming
	tc := newTestCluster(t, topo)
	tc.startAll()
	must(t, tc.StopNode("n5", time.Minute))
	tc.waitFor("quorum lost with min 2 on the leader", has(EvQuorumLost, "g", ""))
}
