package status

import (
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
	"github.com/kubectl-axon/kubectl-axon/pkg/table"
)

// Output formats.
const (
	FormatTable = ""
	FormatWide  = "wide"
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// Formats lists the accepted -o values.
var Formats = []string{FormatJSON, FormatYAML, FormatWide}

// Write prints the report in the given format.
func Write(w io.Writer, r *Report, format string) error {
	switch format {
	case FormatJSON, FormatYAML:
		return WriteData(w, r, format)
	case FormatTable, FormatWide:
		return writeTable(w, r, format == FormatWide)
	}
	return fmt.Errorf("unknown output format %q", format)
}

// WriteData prints v as indented JSON or as YAML.
func WriteData(w io.Writer, v any, format string) error {
	if format == FormatYAML {
		b, err := yaml.Marshal(v)
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

var roleShort = map[string]string{
	string(quorum.Primary): "P", string(quorum.ActiveBackup): "AB", string(quorum.PassiveBackup): "PB",
	string(quorum.MessagingOnly): "MO", string(quorum.Secondary): "S",
}

func writeTable(w io.Writer, r *Report, wide bool) error {
	verdict := "HEALTHY"
	if !r.Healthy {
		verdict = "NOT HEALTHY"
	}
	where := "Cluster " + r.Cluster
	if r.Namespace != "" {
		where += " in namespace " + r.Namespace
	}
	fmt.Fprintf(w, "%s: %s (Axon Server %s, %d nodes, %d replication groups)\n",
		where, verdict, r.Edition, len(r.Nodes), len(r.Groups))
	if r.License != nil {
		fmt.Fprintf(w, "License: %s\n", r.License.Text())
	}
	fmt.Fprintln(w)

	headers := []string{"NODE", "POD", "STATUS", "READY", "RESTARTS", "VERSION", "WORKER", "ZONE", "AXON", "GROUPS", "LEADS", "SAFE TO STOP"}
	if wide {
		headers = append(headers, "IMAGE", "PROBLEMS")
	}
	t := table.New(w, headers...)
	for _, n := range r.Nodes {
		ready := "-" // no pod: Axon-only mode, or the StatefulSet has none
		switch {
		case n.Pod == "":
		case n.Ready && !n.CurrentRevision:
			ready = "1/1 (old revision)"
		case n.Ready:
			ready = "1/1"
		default:
			ready = "0/1"
		}
		row := []string{n.Name, dash(n.Pod), dash(n.Phase), ready, strconv.Itoa(int(n.Restarts)), dash(n.Version),
			dash(n.Worker), dash(n.Zone), axonState(n), strconv.Itoa(len(n.Groups)), dash(few(n.Leads, wide)), safe(n, wide)}
		if wide {
			row = append(row, dash(n.Image), dash(strings.Join(n.Problems, "; ")))
		}
		t.Row(row...)
	}
	if err := t.Flush(); err != nil {
		return err
	}
	if len(r.Groups) > 0 {
		fmt.Fprintln(w)
		t = table.New(w, "REPLICATION GROUP", "LEADER", "MEMBERS", "CAN COMMIT", "TOLERATES", "BEHIND", "CONTEXTS")
		for _, g := range r.Groups {
			commit := "yes"
			switch {
			case !g.CanCommit:
				commit = "NO: " + g.Reason
			case g.Leader == "":
				commit = "yes, once it has elected a leader"
			case g.ChangePending:
				commit = "yes (change pending)"
			}
			tol := strconv.Itoa(g.FaultTolerance)
			if g.FaultTolerance < 0 {
				tol = "-"
			}
			t.Row(g.Name, dash(g.Leader), members(g), commit, tol, dash(strings.Join(g.Behind, ",")), strconv.Itoa(g.Contexts))
		}
		if err := t.Flush(); err != nil {
			return err
		}
	}
	var warnings []string
	if p := r.License.Problem(); p != "" {
		warnings = append(warnings, p)
	}
	warnings = append(warnings, r.Warnings...)
	for _, g := range r.Groups {
		for _, x := range g.Warnings {
			warnings = append(warnings, g.Name+": "+x)
		}
	}
	for _, n := range r.Nodes {
		if !n.Reachable && n.Error != "" {
			warnings = append(warnings, n.Name+": "+n.Error)
		}
	}
	if len(warnings) > 0 {
		fmt.Fprintln(w, "\nWarnings:")
		for _, x := range warnings {
			fmt.Fprintln(w, "  - "+x)
		}
	}
	return nil
}

func members(g GroupStatus) string {
	parts := make([]string, 0, len(g.Members))
	for _, m := range g.Members {
		s := m.Node + ":" + roleShort[m.Role]
		if s == m.Node+":" {
			s += m.Role
		}
		if m.Node == g.Leader {
			s += "*"
		}
		switch {
		case !m.Up:
			s += "(down)"
		case m.Status == "NO_LEADER":
		case !m.CaughtUp && m.Behind > 0:
			s += fmt.Sprintf("(behind %d)", m.Behind)
		case !m.CaughtUp:
			s += "(" + strings.ToLower(m.Status) + ")"
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func axonState(n NodeStatus) string {
	switch {
	case !n.Reachable && !n.Connected:
		return "unreachable"
	case !n.Reachable:
		return "connected (no REST)"
	case !n.Connected:
		return "disconnected"
	}
	return "connected"
}

func safe(n NodeStatus, wide bool) string {
	switch {
	case n.SafeToStop:
		return "yes"
	case n.SafeToStopVerdict == quorum.Unknown:
		if n.unknownWhy == "" {
			return "unknown"
		}
		return "unknown (" + n.unknownWhy + ")"
	}
	groups := make([]string, 0, len(n.BlockedBy))
	for _, b := range n.BlockedBy {
		groups = append(groups, b.Group)
	}
	return "no (" + few(groups, wide) + ")"
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// shownInCell is how many groups a node's LEADS or SAFE TO STOP cell names without
// -o wide.
const shownInCell = 3

// few is a list of groups for a cell: every one with -o wide, else the first few and
// how many more, as kubectl shows a long list in a cell. A node of a large cluster
// leads or holds up hundreds; the groups' table and the JSON name every one.
func few(groups []string, wide bool) string {
	if wide || len(groups) <= shownInCell {
		return strings.Join(groups, ",")
	}
	return fmt.Sprintf("%s + %d more...", strings.Join(groups[:shownInCell], ","), len(groups)-shownInCell)
}
