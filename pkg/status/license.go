package status

import (
	"fmt"
	"sort"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

// License states, from the `license` health component Axon Server EE has from 4.5:
// UP valid, WARN in the grace period after the expiry date, DOWN expired.
const (
	LicenseValid   = "valid"
	LicenseGrace   = "grace"
	LicenseExpired = "expired"
	LicenseUnknown = "unknown"
)

// LicenseStatus is the cluster's license as its nodes report it. The state comes from
// each node's health; the expiry date, days left and edition from GET
// /v1/public/license where it was asked (4.5+). Axon Server reports no grace date.
type LicenseStatus struct {
	State      string `json:"state"`
	ExpiryDate string `json:"expiryDate,omitempty"`
	// DaysLeft are the days the license is still valid (it is valid through its expiry
	// date: 0 on that day, negative after it).
	DaysLeft *int   `json:"daysLeft,omitempty"`
	Edition  string `json:"edition,omitempty"`
	Licensee string `json:"licensee,omitempty"`
	// Nodes is the state of each node whose health was read (status reads the
	// node that answered for the cluster, and every node when it is not UP).
	Nodes map[string]string `json:"nodes,omitempty"`
}

// LicenseState reads the license component of a health answer; ok is false when it
// has none (Axon Server before 4.5, or SE).
func LicenseState(h *axonserver.Health) (state string, ok bool) {
	if h == nil {
		return "", false
	}
	c := h.Components["license"]
	if c == nil {
		return "", false
	}
	switch c.Status {
	case axonserver.StatusUp:
		return LicenseValid, true
	case axonserver.StatusWarn:
		return LicenseGrace, true
	case axonserver.StatusDown, axonserver.StatusOutOfService:
		return LicenseExpired, true
	}
	return LicenseUnknown, true
}

var licenseRank = map[string]int{LicenseExpired: 0, LicenseGrace: 1, LicenseUnknown: 2, LicenseValid: 3}

// LicenseOf is the license as the observation's nodes report it (the worst state of
// any node); nil when no node has a license component.
func LicenseOf(obs *inspect.Observation) *LicenseStatus {
	if obs == nil {
		return nil
	}
	var l *LicenseStatus
	names := make([]string, 0, len(obs.Nodes))
	for n := range obs.Nodes {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		st, ok := LicenseState(obs.Nodes[n].Health)
		if !ok {
			continue
		}
		if l == nil {
			l = &LicenseStatus{State: st, Nodes: map[string]string{}}
		}
		l.Nodes[n] = st
		if licenseRank[st] < licenseRank[l.State] {
			l.State = st
		}
	}
	return l
}

// AddInfo adds what GET /v1/public/license said: the expiry date, the days left at now,
// the edition and licensee. Without a health component the state follows the date
// (valid while it has not passed; unknown after it, as the grace date is not known).
func (l *LicenseStatus) AddInfo(info *axonserver.LicenseInfo, now time.Time) {
	if l == nil || info == nil {
		return
	}
	l.Edition, l.Licensee = info.Edition, info.Licensee
	if info.ExpiryDate == "" {
		return
	}
	exp, err := time.Parse(time.DateOnly, info.ExpiryDate)
	if err != nil {
		return
	}
	l.ExpiryDate = info.ExpiryDate
	y, m, d := now.UTC().Date()
	days := int(exp.Sub(time.Date(y, m, d, 0, 0, 0, 0, time.UTC)).Hours() / 24)
	l.DaysLeft = &days
	if l.State == "" {
		l.State = LicenseUnknown
		if days >= 0 {
			l.State = LicenseValid
		}
	}
}

// Text is the license in a few words: "valid through 2026-12-31 (35 days left)".
func (l *LicenseStatus) Text() string {
	if l == nil {
		return "unknown"
	}
	s := l.State
	switch {
	case l.ExpiryDate == "":
	case l.State == LicenseValid && l.DaysLeft != nil && *l.DaysLeft == 0:
		s += fmt.Sprintf(" through %s (its last day)", l.ExpiryDate)
	case l.State == LicenseValid && l.DaysLeft != nil:
		s += fmt.Sprintf(" through %s (%s left)", l.ExpiryDate, days(*l.DaysLeft))
	case l.State == LicenseGrace:
		s += fmt.Sprintf(" period: expired on %s, Axon Server keeps working until its grace date", l.ExpiryDate)
	case l.State == LicenseExpired:
		s += " on " + l.ExpiryDate
	default:
		s += ", expiry date " + l.ExpiryDate
	}
	return s
}

// Problem is the license's warning in status, "" when it is valid.
func (l *LicenseStatus) Problem() string {
	if l == nil {
		return ""
	}
	var bad []string
	for _, n := range sortedKeys(l.Nodes) {
		if l.Nodes[n] == l.State {
			bad = append(bad, n)
		}
	}
	switch l.State {
	case LicenseExpired:
		return fmt.Sprintf("the Axon Server license has expired%s (license health DOWN on %s): renew it", onDate(l.ExpiryDate), joinOrDash(bad))
	case LicenseGrace:
		return fmt.Sprintf("the Axon Server license expired%s and is in its grace period (license health WARN on %s): renew it before the grace period ends", onDate(l.ExpiryDate), joinOrDash(bad))
	}
	return ""
}

func onDate(d string) string {
	if d == "" {
		return ""
	}
	return " on " + d
}

func days(n int) string {
	if n == 1 {
		return "1 day"
	}
	return fmt.Sprintf("%d days", n)
}

func joinOrDash(xs []string) string {
	if len(xs) == 0 {
		return "-"
	}
	s := xs[0]
	for _, x := range xs[1:] {
		s += ", " + x
	}
	return s
}

func sortedKeys(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
