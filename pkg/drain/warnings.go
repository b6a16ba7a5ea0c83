package drain

import (
	"fmt"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// MoveWarnings says where moving node (from a worker in zone from, to one of
// m.Candidates) would weaken a replication group it votes in:
//
//   - two voters of the group in one zone, where the node was not in a zone with
//     another voter before (losing that zone then costs the group two votes);
//   - every voter of the group on one worker (losing that worker stops writes).
//
// placed maps the other nodes to the workers they run on; nodes that move too
// (their destination unknown) are left out. zoneOf maps workers to zones. When
// every candidate worker raises a warning it says the move will; when only some
// do, that it may, naming the workers that avoid it.
func MoveWarnings(c quorum.Cluster, node, from string, m Movability, placed, zoneOf map[string]string) []string {
	if len(m.Candidates) == 0 {
		return nil
	}
	var out []string
	for _, g := range c.Groups {
		me, ok := g.Member(node)
		if !ok || !me.Role.Votes() {
			continue
		}
		var others []string
		unknown := false
		for _, o := range g.Members {
			if o.Node == node || !o.Role.Votes() {
				continue
			}
			if _, ok := placed[o.Node]; ok {
				others = append(others, o.Node)
			} else {
				unknown = true
			}
		}
		if len(others) == 0 {
			continue
		}
		zoneHits := map[string][]string{}   // candidate -> voters in its zone
		workerHits := map[string][]string{} // candidate -> voters on it, when all are
		for _, w := range m.Candidates {
			z := zoneOf[w]
			if z != "" && z != from {
				for _, o := range others {
					if zoneOf[placed[o]] == z {
						zoneHits[w] = append(zoneHits[w], o)
					}
				}
			}
			if !unknown {
				all := true
				for _, o := range others {
					all = all && placed[o] == w
				}
				if all {
					workerHits[w] = others
				}
			}
		}
		out = append(out, phrase(node, m.Candidates, zoneHits, func(w string, with []string) (string, string) {
			return fmt.Sprintf("two voters of %s in zone %s (with %s)", g.Name, zoneOf[w], strings.Join(with, ", ")), "losing that zone costs the group both"
		})...)
		out = append(out, phrase(node, m.Candidates, workerHits, func(w string, with []string) (string, string) {
			return fmt.Sprintf("every voter of %s on worker %s (with %s)", g.Name, w, strings.Join(with, ", ")), "losing that worker stops writes"
		})...)
	}
	return out
}

// phrase words the hits of one kind: "moving X puts ..." when every candidate
// hits, "moving X may put ... (if it lands on w1; w2 avoids it)" when some do.
func phrase(node string, candidates []string, hits map[string][]string, what func(w string, with []string) (where, consequence string)) []string {
	if len(hits) == 0 {
		return nil
	}
	var hit, miss []string
	for _, w := range candidates {
		if _, ok := hits[w]; ok {
			hit = append(hit, w)
		} else {
			miss = append(miss, w)
		}
	}
	// One sentence per distinct consequence (a zone names several workers).
	seen := map[string][]string{}
	why := map[string]string{}
	var order []string
	for _, w := range hit {
		s, c := what(w, hits[w])
		if _, ok := seen[s]; !ok {
			order = append(order, s)
		}
		seen[s], why[s] = append(seen[s], w), c
	}
	sort.Strings(order)
	var out []string
	for _, s := range order {
		if len(miss) == 0 && len(order) == 1 {
			out = append(out, fmt.Sprintf("moving %s puts %s: %s", node, s, why[s]))
			continue
		}
		out = append(out, fmt.Sprintf("moving %s may put %s if the scheduler picks %s (%s would avoid it): %s",
			node, s, strings.Join(seen[s], " or "), orNone(miss), why[s]))
	}
	return out
}

func orNone(ws []string) string {
	if len(ws) == 0 {
		return "no candidate"
	}
	return strings.Join(ws, " or ")
}
