//go:build chaos

package chaos

import (
	"flag"
	"fmt"
	"math/rand"
	"sort"
	"strings"
	"testing"
)

// ciSeeds is the CI slice (make chaos-ci: -chaos.seeds ci -chaos.ops 2):
// chosen by TestScan from seeds 1-2000 to draw every operation and every
// fault at least once in few operations. TestCISeedsCover keeps it honest
// when the generator changes.
const ciSeeds = "7,33,37,40,45,187"

// ciOps is the CI slice's -chaos.ops.
const ciOps = 2

var scanFlag = flag.String("chaos.scan", "", "FROM-TO: print the fewest-operations seed list of that range that draws every operation and fault (no sandbox)")

// planned is one operation as a seed draws it.
type planned struct{ kind, fault string }

// planRun draws run seed's operations and faults exactly as TestChaos does,
// without a sandbox (the workers holding pods are those of the topology's
// placement; pickOp draws the same sequence whatever they are).
func planRun(seed int64, maxOps int) []planned {
	sc := newScenario(seed)
	rng := rand.New(rand.NewSource(seed * 7919))
	later := rand.New(rand.NewSource(seed * 104729))
	on := map[string]bool{}
	for _, w := range sc.placement {
		on[w] = true
	}
	ver := 0
	var out []planned
	for i, n := 0, 1+rng.Intn(maxOps); i < n; i++ {
		o := pickOp(rng, sc, "ns", &ver, on)
		p := drawFault(rng, later, sc, "ns", &o)
		out = append(out, planned{o.kind, p.fault})
	}
	return out
}

var opKinds = []string{"upgrade", "replace-node", "replace-node --all", "replace-node --fresh-volume", "drain-node"}

// drawn lists what a seed draws: its operations, their faults and the kind of
// its _admin group; and how many operations it draws.
func drawn(seed int64, maxOps int) ([]string, int) {
	out := []string{"admin events"}
	if newScenario(seed).quietAdmin {
		out[0] = "admin quiet"
	}
	ops := planRun(seed, maxOps)
	for _, p := range ops {
		out = append(out, "op "+p.kind, "fault "+p.fault)
	}
	return out, len(ops)
}

// kinds is everything the CI slice must draw: each operation, each fault, and
// both kinds of _admin (quiet; holding default with its events).
func kinds() []string {
	out := []string{"admin events", "admin quiet"}
	for _, k := range opKinds {
		out = append(out, "op "+k)
	}
	for _, f := range allFaults() {
		out = append(out, "fault "+f)
	}
	return out
}

// missing lists the kinds the seeds never draw.
func missing(seeds []int64, maxOps int) []string {
	seen := map[string]bool{}
	for _, s := range seeds {
		ks, _ := drawn(s, maxOps)
		for _, k := range ks {
			seen[k] = true
		}
	}
	var out []string
	for _, k := range kinds() {
		if !seen[k] {
			out = append(out, k)
		}
	}
	return out
}

// cover picks greedily, from seeds from..to, seeds that together draw every
// kind, preferring the most new kinds per unit of time (a sandbox brought up
// costs about as much as two operations).
func cover(from, to int64, maxOps int) []int64 {
	need := map[string]bool{}
	for _, k := range kinds() {
		need[k] = true
	}
	var chosen []int64
	for len(need) > 0 {
		best, bestScore := int64(-1), 0.0
		for s := from; s <= to; s++ {
			gain := map[string]bool{}
			ks, nops := drawn(s, maxOps)
			for _, k := range ks {
				if need[k] {
					gain[k] = true
				}
			}
			// a run costs its sandbox (about two operations' time) plus its operations
			if score := float64(len(gain)) / float64(2+nops); score > bestScore {
				best, bestScore = s, score
			}
		}
		if best < 0 {
			break
		}
		ks, _ := drawn(best, maxOps)
		for _, k := range ks {
			delete(need, k)
		}
		chosen = append(chosen, best)
	}
	sort.Slice(chosen, func(i, j int) bool { return chosen[i] < chosen[j] })
	return chosen
}

func TestCISeedsCover(t *testing.T) {
	var seeds []int64
	for _, f := range strings.Split(ciSeeds, ",") {
		var s int64
		if _, err := fmt.Sscan(f, &s); err != nil {
			t.Fatalf("ciSeeds: %q", f)
		}
		seeds = append(seeds, s)
	}
	if m := missing(seeds, ciOps); len(m) > 0 {
		t.Errorf("the CI seeds %s never draw %s (go test -tags chaos ./test/chaos -run TestScan -chaos.scan 1-2000 -v)", ciSeeds, strings.Join(m, ", "))
	}
}

func TestScan(t *testing.T) {
	if *scanFlag == "" {
		t.Skip("-chaos.scan FROM-TO not given")
	}
	var from, to int64
	if _, err := fmt.Sscanf(*scanFlag, "%d-%d", &from, &to); err != nil || from > to {
		t.Fatalf("-chaos.scan %q: want FROM-TO", *scanFlag)
	}
	seeds := cover(from, to, ciOps)
	n := 0
	for _, s := range seeds {
		ops := planRun(s, ciOps)
		n += len(ops)
		t.Logf("seed %d: %v", s, ops)
	}
	if m := missing(seeds, ciOps); len(m) > 0 {
		t.Errorf("no seed of %s draws %s", *scanFlag, strings.Join(m, ", "))
	}
	fmt.Printf("chaos: CI seeds %s (%d runs, %d operations)\n", joinSeeds(seeds), len(seeds), n)
}

func joinSeeds(s []int64) string {
	var parts []string
	for _, x := range s {
		parts = append(parts, fmt.Sprint(x))
	}
	return strings.Join(parts, ",")
}

// What a seed draws is part of the suite's interface (failures are replayed
// by seed, docs/chaos.md records seed ranges): these seeds draw what they drew
// when they were recorded.
func TestPlanKnownSeeds(t *testing.T) {
	for _, tc := range []struct {
		seed int64
		ops  int
		want string
	}{
		// the slice CI ran before (docs/chaos.md): seeds 1-3 with -chaos.ops 2
		{1, 2, "[{upgrade kill-plugin} {replace-node --fresh-volume kill-plugin}]"},
		// issue 17's two failures, with -chaos.ops 3
		{1000, 3, "[{upgrade apiserver-restart} {upgrade apiserver-restart} {upgrade kill-plugin}]"},
		{1001, 3, "[{replace-node --fresh-volume apiserver-restart} {upgrade pod-deleted}]"},
	} {
		if got := fmt.Sprint(planRun(tc.seed, tc.ops)); got != tc.want {
			t.Errorf("seed %d draws %s, want %s", tc.seed, got, tc.want)
		}
	}
}
