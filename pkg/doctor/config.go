package doctor

import (
	"fmt"
	"sort"
	"strings"
)

// checkConfig: the nodes agree on the settings the commit rule depends on.
// axoniq.axonserver.replication.min-active-backups is read per node from
// /actuator/env (when exposed); a node that applies another value than the others
// commits, elects and steps down by another rule, and kubectl axon's safety model can
// follow only one of them (it takes the highest).
func checkConfig(c *ctx) []Finding {
	if c.Axon == nil || len(c.Axon.MinActiveBackups) < 2 {
		return nil
	}
	byValue := map[int][]string{}
	for n, v := range c.Axon.MinActiveBackups {
		byValue[v] = append(byValue[v], n)
	}
	if len(byValue) < 2 {
		return nil
	}
	values := make([]int, 0, len(byValue))
	for v := range byValue {
		values = append(values, v)
	}
	sort.Ints(values)
	parts := make([]string, 0, len(values))
	for _, v := range values {
		sort.Strings(byValue[v])
		parts = append(parts, fmt.Sprintf("%d on %s", v, strings.Join(byValue[v], ", ")))
	}
	high := values[len(values)-1]
	return []Finding{finding(Warning, "config/min-active-backups-differ", "cluster/"+c.Cluster,
		"every node applies its own min-active-backups when it leads a group: which groups can commit, elect a leader or lose one then depends on which node leads; kubectl axon judges safety by the highest",
		fmt.Sprintf("set axoniq.axonserver.replication.min-active-backups to the same value on every node (e.g. %d) in the ConfigMap or environment of each StatefulSet, then restart the nodes one at a time: kubectl axon replace-node --all", high),
		"the nodes disagree on axoniq.axonserver.replication.min-active-backups (/actuator/env): %s", strings.Join(parts, "; "))}
}
