//go:build chaos

package chaos

import (
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

func TestPartitionExcuse(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 0, 40, 43, 0, time.UTC)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	groups := map[string]map[string]bool{
		"a": {"g": true}, "b": {"g": true}, "c": {"g": true}, "d": {"h": true},
	}
	groupsOf := func(n string) map[string]bool { return groups[n] }
	cut := axonsim.Event{Time: at(0), Event: axonsim.EvPartitioned, Node: "b"}
	heal := axonsim.Event{Time: at(30 * time.Second), Event: axonsim.EvPartitionHealed, Node: "b"}
	sched := func(d time.Duration, node string) axonsim.Event {
		return axonsim.Event{Time: at(d), Event: axonsim.EvRemovalScheduled, Group: "g", Node: node}
	}
	removed := func(d time.Duration, node string) axonsim.Event {
		return axonsim.Event{Time: at(d), Event: axonsim.EvMemberRemoved, Group: "g", Node: node}
	}
	lost := func(d time.Duration, group string) axonsim.Event {
		return axonsim.Event{Time: at(d), Event: axonsim.EvQuorumLost, Group: group}
	}
	after := 30*time.Second + 50*time.Millisecond
	cases := []struct {
		name    string
		ev      []axonsim.Event
		excused bool
	}{
		{"at the cut", []axonsim.Event{cut, lost(0, "g")}, true},
		{"within the grace of the cut", []axonsim.Event{cut, lost(4*time.Second, "g")}, true},
		{"later in the partition", []axonsim.Event{cut, lost(10*time.Second, "g")}, false},
		{"in a group of no cut-off node", []axonsim.Event{cut, lost(time.Second, "h")}, false},
		{"removal asked before the cut, applied at the heal (seed 122)",
			[]axonsim.Event{sched(-time.Second, "a"), cut, heal, removed(after, "a"), lost(after, "g")}, true},
		{"removal asked before the cut, applied during it",
			[]axonsim.Event{sched(-time.Second, "a"), cut, removed(12*time.Second, "a"), lost(12*time.Second, "g")}, true},
		{"removal asked during the partition",
			[]axonsim.Event{cut, sched(time.Second, "a"), heal, removed(after, "a"), lost(after, "g")}, false},
		{"removal applied long after the heal",
			[]axonsim.Event{sched(-time.Second, "a"), cut, heal, removed(40*time.Second, "a"), lost(40*time.Second, "g")}, false},
		{"quorum lost after the heal with no removal",
			[]axonsim.Event{sched(-time.Second, "a"), cut, heal, lost(after, "g")}, false},
		{"the removal not applied with the loss",
			[]axonsim.Event{sched(-time.Second, "a"), cut, heal, removed(after, "a"), lost(after+time.Second, "g")}, false},
		{"the cut-off node's own removal",
			[]axonsim.Event{sched(-time.Second, "b"), cut, heal, removed(after, "b"), lost(after, "g")}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.ev[len(tc.ev)-1]
			why := partitionExcuse(tc.ev, e, groupsOf)
			if (why != "") != tc.excused {
				t.Errorf("excused %q; want excused %v", why, tc.excused)
			}
		})
	}
}
