package axonsim

import (
	"net/http"
	"time"
)

// Health statuses in Axon's aggregation order (worst first).
var statusOrder = []string{"DOWN", "OUT_OF_SERVICE", "WARN", "UP", "UNKNOWN"}

func worse(a, b string) string {
	for _, s := range statusOrder {
		if a == s || b == s {
			return s
		}
	}
	return a
}

type healthComponent struct {
	Status  string         `json:"status"`
	Details map[string]any `json:"details,omitempty"`
}

// localHealth computes a node's components, from its own view only (there is no cluster-wide
// aggregation in Axon Server: ClusterHealthIndicator and RaftHealthIndicator read this node's
// links and Raft groups). Caller holds c.mu.
func (c *Cluster) localHealth(n *Node, now time.Time) (string, map[string]healthComponent) {
	v45 := versionAtLeast(n.version, 4, 5)
	comps := map[string]healthComponent{}
	// cluster: one <node>.connection per peer; WARN when a link is down, DOWN when all are.
	cl := healthComponent{Status: "UP", Details: map[string]any{}}
	peers, down := 0, 0
	for _, o := range c.visibleNodes(n) {
		if o == n {
			continue
		}
		peers++
		st := "UP"
		if !c.connected(n, o) {
			st, down = "DOWN", down+1
		}
		cl.Details[o.name+".connection"] = st
	}
	if down > 0 {
		cl.Status = "WARN"
		if down == peers {
			cl.Status = "DOWN"
		}
	}
	comps["cluster"] = cl
	// raft (RaftHealthIndicator): <group>.leader everywhere ("None": WARN), and on the leader
	// <group>.follower.<node>.status per follower (LeaderState.health: a follower not UP makes
	// the leader's raft WARN). The lagging follower itself stays UP. No leader anywhere: DOWN.
	rf := healthComponent{Status: "UP", Details: map[string]any{}}
	var groups []*group
	if !n.initializing {
		groups = c.memberGroups(n)
	}
	leaderless := 0
	for _, g := range groups {
		seen := c.leaderSeenBy(n, g, now) // a partitioned node's own view
		ld := seen
		if ld == "" {
			ld, leaderless = "None", leaderless+1
			rf.Status = worse(rf.Status, "WARN")
		}
		rf.Details[g.name+".leader"] = ld
		if seen != n.name {
			continue
		}
		for _, m := range g.members {
			if m.node == n.name {
				continue
			}
			st := "UP" // a cut-off leader until it steps down: not yet the max election timeout without an answer
			if g.leader == n.name {
				st = c.followerStatus(g, m.node, now)
			}
			if st != "UP" {
				rf.Status = worse(rf.Status, "WARN")
			}
			rf.Details[g.name+".follower."+m.node+".status"] = st
		}
	}
	if len(groups) > 0 && leaderless == len(groups) {
		rf.Status = "DOWN"
	}
	comps["raft"] = rf
	disk := map[string]any{"total": int64(107374182400), "free": int64(53687091200), "threshold": int64(10485760)}
	if v45 {
		disk["path"] = n.dataDir
		comps["license"] = c.licenseHealth(n, now)
	}
	comps["diskSpace"] = healthComponent{Status: "UP", Details: disk}
	comps["ping"] = healthComponent{Status: "UP"}
	status := "UP"
	for _, comp := range comps {
		status = worse(status, comp.Status)
	}
	return status, comps
}

func (h *nodeHandler) health(w http.ResponseWriter, r *http.Request) {
	c, n := h.c, h.n
	c.mu.Lock()
	status, comps := c.localHealth(n, time.Now())
	version := n.version
	c.mu.Unlock()
	key, ctype := "details", "application/vnd.spring-boot.actuator.v2+json" // Spring Boot 2.1 (Axon Server up to 4.4)
	if versionAtLeast(version, 4, 5) {
		key, ctype = "components", "application/vnd.spring-boot.actuator.v3+json"
	}
	w.Header().Set("Content-Type", ctype)
	code := http.StatusOK
	if status == "DOWN" || status == "OUT_OF_SERVICE" {
		code = http.StatusServiceUnavailable
	}
	writeJSON(w, code, map[string]any{"status": status, key: comps})
}
