package status

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

// bigCluster is 9 nodes, 300 replication groups (3 PRIMARY members each; every
// tenth also an ACTIVE_BACKUP) and 1,000 contexts spread over them, with every
// member's Raft status and its leader's health detail, as a large EE cluster reports.
func bigCluster() Input {
	const nodes, groups, contexts = 9, 300, 1000
	f := newFx(nodes)
	for g := range groups {
		members := []string{strconv.Itoa(g%nodes + 1), strconv.Itoa((g+1)%nodes + 1), strconv.Itoa((g+2)%nodes + 1)}
		if g%10 == 0 {
			members = append(members, strconv.Itoa((g+3)%nodes+1)+":AB")
		}
		name := fmt.Sprintf("group-%03d", g)
		f.group(name, g%nodes+1, members...)
		f.obs.Groups[g].Contexts = nil
		for i, m := range f.obs.Groups[g].Roles {
			v := f.obs.Nodes[m.Node]
			v.Raft = append(v.Raft, axonserver.RaftStatus{ReplicationGroup: name, IsLeader: i == 0, CommitIndex: 5000, LastLogIndex: int64(5000 - 10*i)})
		}
	}
	for c := range contexts {
		g := &f.obs.Groups[c%groups]
		g.Contexts = append(g.Contexts, axonserver.Context{Context: fmt.Sprintf("ctx-%04d", c), ReplicationGroup: g.Name})
	}
	return f.input()
}

func TestBigCluster(t *testing.T) {
	r := Build(bigCluster())
	contexts := 0
	for _, g := range r.Groups {
		contexts += g.Contexts
	}
	if len(r.Nodes) != 9 || len(r.Groups) != 300 || contexts != 1000 || !r.Healthy {
		t.Errorf("%d nodes, %d groups, %d contexts, healthy %v: %s", len(r.Nodes), len(r.Groups), contexts, r.Healthy, r.Summary())
	}
}

func BenchmarkBuildReport(b *testing.B) {
	in := bigCluster()
	b.ReportAllocs()
	for b.Loop() {
		Build(in)
	}
}
