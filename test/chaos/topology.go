//go:build chaos

package chaos

import (
	"fmt"
	"math/rand"
	"strings"
)

// scenario is one randomized run: a topology and what is done to it.
type scenario struct {
	seed        int64
	nodes       int
	workers     []worker
	placement   map[string]string // node -> worker
	groups      []group
	autocluster bool
	slowNode    string // a node with a slow clean shutdown ("" none)
	// quietAdmin: _admin holds the _admin context only (no event store, its log
	// moves with configuration changes alone, so status keeps the groups' view
	// between runs); otherwise it holds default too, whose events it carries.
	quietAdmin bool
	yaml       string
}

type worker struct{ name, zone string }

type group struct {
	name  string
	roles map[string]string
}

const (
	imageBase  = "axoniq/axonserver:2024.1.0-nonroot"
	badImage   = "axoniq/axonserver:2099.1.0-nonroot" // topology fault: never ready
	flakyImage = "axoniq/axonserver:2024.9.0-flaky"   // topology fault: REST answers 503 at 20 %
	crashImage = "axoniq/axonserver:2024.8.0-crashy"  // topology fault: crashes 20 s after each start
	// topology fault: the first two starts of each node on it crash 10 s after ready, then it runs
	recoverImage = "axoniq/axonserver:2024.7.0-recovering"
)

func nodeName(i int) string { return fmt.Sprintf("axonserver-%d", i) }

// newScenario draws a topology: 3 to 9 nodes on 2 to 5 workers in 2 or 3
// zones (at least one zone with two workers, so a drain has somewhere to go),
// 1 to 30 groups with random roles that keep a safe order possible: 3 or 5
// PRIMARY members (a majority survives one stop), 0 or 2 ACTIVE_BACKUP
// (min-active-backups 1 survives one stop), and PASSIVE_BACKUP,
// MESSAGING_ONLY or SECONDARY members on the other nodes at random.
func newScenario(seed int64) *scenario {
	rng := rand.New(rand.NewSource(seed))
	sc := &scenario{seed: seed, nodes: 3 + rng.Intn(7), placement: map[string]string{}}
	zones := 2 + rng.Intn(2)
	nw := max(zones+1, 2+rng.Intn(4))
	for i := 0; i < nw; i++ {
		z := i % zones
		sc.workers = append(sc.workers, worker{fmt.Sprintf("w%d", i+1), fmt.Sprintf("zone-%c", 'a'+z)})
	}
	for i := 1; i <= sc.nodes; i++ {
		sc.placement[nodeName(i)] = sc.workers[rng.Intn(nw)].name
	}
	all := make([]string, sc.nodes)
	for i := range all {
		all[i] = nodeName(i + 1)
	}
	// _admin: three PRIMARY members
	perm := rng.Perm(sc.nodes)
	admin := group{name: "_admin", roles: map[string]string{}}
	for _, p := range perm[:3] {
		admin.roles[all[p]] = "PRIMARY"
	}
	sc.groups = append(sc.groups, admin)
	ng := 1 + rng.Intn(30)
	for g := 1; g <= ng; g++ {
		gr := group{name: fmt.Sprintf("g%02d", g), roles: map[string]string{}}
		perm := rng.Perm(sc.nodes)
		np := 3
		if sc.nodes >= 5 && rng.Intn(4) == 0 {
			np = 5
		}
		i := 0
		for ; i < np; i++ {
			gr.roles[all[perm[i]]] = "PRIMARY"
		}
		if sc.nodes-i >= 2 && rng.Intn(3) == 0 {
			gr.roles[all[perm[i]]] = "ACTIVE_BACKUP"
			gr.roles[all[perm[i+1]]] = "ACTIVE_BACKUP"
			i += 2
		}
		for ; i < sc.nodes; i++ {
			switch rng.Intn(5) {
			case 0:
				gr.roles[all[perm[i]]] = "PASSIVE_BACKUP"
			case 1:
				gr.roles[all[perm[i]]] = "MESSAGING_ONLY"
			case 2:
				gr.roles[all[perm[i]]] = "SECONDARY"
			}
		}
		sc.groups = append(sc.groups, gr)
	}
	sc.autocluster = rng.Intn(2) == 0
	if rng.Intn(2) == 0 {
		sc.slowNode = all[rng.Intn(sc.nodes)]
	}
	sc.quietAdmin = rng.Intn(2) == 0 // drawn last: the draws before it are as they were
	sc.yaml = sc.render()
	return sc
}

func (sc *scenario) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# chaos scenario, seed %d\nname: axonserver\nnamespace: chaos-%d\nimage: %s\nminActiveBackups: 1\nworkers:\n", sc.seed, sc.seed%100000, imageBase)
	for _, w := range sc.workers {
		fmt.Fprintf(&b, "  - {name: %s, zone: %s}\n", w.name, w.zone)
	}
	b.WriteString("nodes:\n")
	for i := 1; i <= sc.nodes; i++ {
		fmt.Fprintf(&b, "  - {name: %s, worker: %s}\n", nodeName(i), sc.placement[nodeName(i)])
	}
	adminContexts := "[_admin, default]"
	if sc.quietAdmin {
		adminContexts = "[_admin]"
	}
	b.WriteString("replicationGroups:\n")
	for _, g := range sc.groups {
		contexts := "[" + g.name + "]"
		if g.name == "_admin" {
			contexts = adminContexts
		}
		var roles []string
		for i := 1; i <= sc.nodes; i++ {
			if r, ok := g.roles[nodeName(i)]; ok {
				roles = append(roles, nodeName(i)+": "+r)
			}
		}
		fmt.Fprintf(&b, "  - {name: %s, contexts: %s, roles: {%s}}\n", g.name, contexts, strings.Join(roles, ", "))
	}
	b.WriteString("timing: {startupSeconds: 1, shutdownSeconds: 1, catchUpSeconds: 1, electionTimeoutMillis: 1000}\n")
	if sc.autocluster {
		fmt.Fprintf(&b, "autocluster: {first: axonserver-1, contexts: %s}\n", adminContexts)
	}
	b.WriteString("faults:\n")
	fmt.Fprintf(&b, "  - {image: \"*:2099.*\", neverReady: true}\n")
	fmt.Fprintf(&b, "  - {image: \"*-flaky\", restErrorRate: 0.2}\n")
	fmt.Fprintf(&b, "  - {image: \"*-crashy\", crashAfterSeconds: 20}\n")
	fmt.Fprintf(&b, "  - {image: \"*-recovering\", crashAfterSeconds: 10, crashCount: 2}\n")
	if sc.slowNode != "" {
		fmt.Fprintf(&b, "  - {node: %s, shutdownSeconds: 15}\n", sc.slowNode)
	}
	return b.String()
}

// groupsOf: the groups node belongs to.
func (sc *scenario) groupsOf(node string) map[string]bool {
	m := map[string]bool{}
	for _, g := range sc.groups {
		if _, ok := g.roles[node]; ok {
			m[g.name] = true
		}
	}
	return m
}

// drainable: workers whose zone has another worker.
func (sc *scenario) drainable() []string {
	perZone := map[string]int{}
	for _, w := range sc.workers {
		perZone[w.zone]++
	}
	var out []string
	for _, w := range sc.workers {
		if perZone[w.zone] > 1 {
			out = append(out, w.name)
		}
	}
	return out
}
