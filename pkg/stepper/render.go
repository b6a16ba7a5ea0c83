package stepper

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

// VerdictText is a step's safety verdict for the plan table: "yes", "yes (g may see
// a second election)", "not now: ...", "NEVER: ..." (no order makes it safe) or
// "unknown: ..." (what it depends on was not seen).
func VerdictText(s Step) string {
	var why []string
	for _, i := range s.Verdict.Blocked {
		why = append(why, i.String())
	}
	switch {
	case s.Verdict.Answer == quorum.Unknown:
		var unseen []string
		for _, i := range s.Verdict.Unseen {
			unseen = append(unseen, i.String())
		}
		return "unknown: " + strings.Join(unseen, "; ")
	case s.Verdict.Safe && len(s.ElectionRisk) > 0:
		return "yes (" + strings.Join(s.ElectionRisk, ", ") + " may see a second election)"
	case s.Verdict.Safe:
		return "yes"
	case s.Structural:
		return "NEVER: " + strings.Join(why, "; ")
	default:
		return "not now: " + strings.Join(why, "; ")
	}
}

// WriteElections writes the plan's "Leader elections per group (at most): ..." line.
func WriteElections(w io.Writer, p Plan) {
	groups := make([]string, 0, len(p.Elections))
	for g := range p.Elections {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	el := make([]string, 0, len(groups))
	for _, g := range groups {
		el = append(el, fmt.Sprintf("%s %d", g, p.Elections[g]))
	}
	fmt.Fprintf(w, "Leader elections per group (at most): %s\n", strings.Join(el, ", "))
}

// SummaryLine is the one-line outcome of a run, e.g. "upgrade finished after 157.0s:
// 5 of 5 nodes upgraded; overhead per node 0.17s (max 0.20s)"; past is the verb's
// participle ("upgraded", "replaced", "drained").
func SummaryLine(sum *Summary, past string, err error) string {
	done := 0
	for _, n := range sum.Nodes {
		if n.Result == "done" {
			done++
		}
	}
	state := "finished"
	if err != nil {
		state = "stopped at " + sum.StoppedAt
	}
	return fmt.Sprintf("%s %s after %.1fs: %d of %d nodes %s; overhead per node %.2fs (max %.2fs)",
		sum.Operation, state, sum.ElapsedSeconds, done, len(sum.Nodes), past, sum.MeanOverheadSeconds, sum.MaxOverheadSeconds)
}

// WriteSummary writes the per-node table of a run and its SummaryLine.
func WriteSummary(w io.Writer, sum *Summary, past string, err error) {
	fmt.Fprintln(w)
	t := table.New(w, "NODE", "RESULT", "SHUTDOWN", "DOWN", "TO HEALTHY", "OVERHEAD", "ELECTIONS")
	for _, n := range sum.Nodes {
		if n.Result == "done" {
			t.Row(n.Node, n.Result, fmt.Sprintf("%.1fs", n.ShutdownSeconds), fmt.Sprintf("%.1fs", n.DownSeconds),
				fmt.Sprintf("%.1fs", n.ToHealthySeconds), fmt.Sprintf("%.2fs", n.OverheadSeconds), fmt.Sprint(n.Elections))
		} else {
			t.Row(n.Node, n.Result, "-", "-", "-", "-", "-")
		}
	}
	_ = t.Flush()
	fmt.Fprintln(w, SummaryLine(sum, past, err))
}
