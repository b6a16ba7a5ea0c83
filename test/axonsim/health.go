package axonsim

import (
	"net/http"
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

// localHealth computes a node's own components. Caller holds c.mu.
func (c *Cluster) localHealth(n *Node) (string, map[string]healthComponent) {
	v45 := versionAtLeast(n.version, 4, 5)
	comps := map[string]healthComponent{}
	// cluster: one <node>.connection per peer.
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
	// raft: <group>.leader everywhere, <group>.follower.<node>.status on the leader.
	rf := healthComponent{Status: "UP", Details: map[string]any{}}
	groups := c.memberGroups(n)
	leaderless := 0
	for _, g := range groups {
		ld := g.leader
		if ld == "" {
			ld, leaderless = "None", leaderless+1
			rf.Status = worse(rf.Status, "WARN")
		}
		rf.Details[g.name+".leader"] = ld
		if g.leader != n.name || !v45 {
			continue // follower states are reported from 4.5 on
		}
		behind := false
		for _, m := range g.members {
			if m.node == n.name {
				continue
			}
			st := "UP"
			switch {
			case !c.up(m.node):
				st = "NO_ACK_RECEIVED"
			case !m.caughtUp:
				st, behind = "BEHIND", true
			}
			if st != "UP" {
				rf.Status = worse(rf.Status, "WARN")
			}
			rf.Details[g.name+".follower."+m.node+".status"] = st
		}
		if behind {
			rf.Details[g.name+".status"] = "BEHIND"
		}
	}
	if len(groups) > 0 && leaderless == len(groups) {
		rf.Status = "DOWN"
	}
	comps["raft"] = rf
	disk := map[string]any{"total": int64(107374182400), "free": int64(53687091200), "threshold": int64(10485760)}
	if v45 {
		disk["path"] = n.dataDir
		comps["license"] = healthComponent{Status: "UP"}
	}
	comps["diskSpace"] = healthComponent{Status: "UP", Details: disk}
	comps["ping"] = healthComponent{Status: "UP"}
	status := "UP"
	for _, comp := range comps {
		status = worse(status, comp.Status)
	}
	return status, comps
}

// clusterStatus is the worst local status of all running nodes, capped at WARN: one sick node
// turns every node's health WARN.
func (c *Cluster) clusterStatus() string {
	st := "UP"
	for _, name := range c.names {
		o := c.nodes[name]
		if o.state == Running && o.knowsCluster {
			s, _ := c.localHealth(o)
			if s != "UP" {
				st = "WARN"
			}
		}
	}
	return st
}

func (h *nodeHandler) health(w http.ResponseWriter, r *http.Request) {
	c, n := h.c, h.n
	c.mu.Lock()
	status, comps := c.localHealth(n)
	if n.knowsCluster {
		status = worse(status, c.clusterStatus())
	}
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
