package axonsim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"
)

// License is the cluster's Axon Server license, as its license file says it
// (expiry_date, grace_date; LicenseManager, ee-4.4.2): the license is valid through its
// expiry date, then in its grace period until the grace date, then expired. Dates are
// days (YYYY-MM-DD, UTC, as Axon Server's LocalDate) or, for tests, instants (RFC 3339):
// an instant ends the period at that moment.
type License struct {
	Expiry     string   `yaml:"expiry"`     // expiry_date; "" never expires
	GraceUntil string   `yaml:"graceUntil"` // grace_date; "" = no grace period
	Edition    string   `yaml:"edition"`    // default "Enterprise edition" (LicenseConfiguration.Edition)
	Licensee   string   `yaml:"licensee"`
	Features   []string `yaml:"features"`
}

// License states, as the `license` health component shows them (EE 4.5+: WARN in the
// grace period, DOWN once expired; facts file).
const (
	LicenseValid   = "UP"
	LicenseGrace   = "WARN"
	LicenseExpired = "DOWN"
)

// parseLicenseTime reads a date (the end of that day for an expiry, its start for a grace
// date, as LocalDate.isAfter / isBefore compare them) or an RFC 3339 instant.
func parseLicenseTime(s string, endOfDay bool) (t time.Time, date bool, err error) {
	if d, err := time.Parse(time.DateOnly, s); err == nil {
		if endOfDay {
			d = d.Add(24 * time.Hour)
		}
		return d, true, nil
	}
	t, err = time.Parse(time.RFC3339, s)
	return t, false, err
}

// validate checks the license keys; errs through v.
func (l *License) validate(v *validator) {
	if l == nil {
		return
	}
	var exp, grace time.Time
	var err error
	if l.Expiry != "" {
		if exp, _, err = parseLicenseTime(l.Expiry, true); err != nil {
			v.errf([]any{"license", "expiry"}, "license.expiry: want YYYY-MM-DD or an RFC 3339 time, not %q", l.Expiry)
		}
	}
	if l.GraceUntil != "" {
		if l.Expiry == "" {
			v.errf([]any{"license", "graceUntil"}, "license.graceUntil needs license.expiry")
		} else if grace, _, err = parseLicenseTime(l.GraceUntil, false); err != nil {
			v.errf([]any{"license", "graceUntil"}, "license.graceUntil: want YYYY-MM-DD or an RFC 3339 time, not %q", l.GraceUntil)
		} else if !exp.IsZero() && grace.Before(exp) {
			v.errf([]any{"license", "graceUntil"}, "license.graceUntil is before license.expiry")
		}
	}
}

// licenseState is the license's state at now: LicenseValid, LicenseGrace or
// LicenseExpired. Caller holds c.mu.
func (c *Cluster) licenseState(now time.Time) string {
	l := c.topo.License
	if l == nil || l.Expiry == "" {
		return LicenseValid
	}
	exp, _, _ := parseLicenseTime(l.Expiry, true)
	if now.Before(exp) {
		return LicenseValid
	}
	if l.GraceUntil != "" {
		if grace, _, _ := parseLicenseTime(l.GraceUntil, false); now.Before(grace) {
			return LicenseGrace
		}
	}
	return LicenseExpired
}

// licenseHealth is the `license` health component (4.5+), logging the node's first look
// at each new state as LicenseManager logs it. Caller holds c.mu.
func (c *Cluster) licenseHealth(n *Node, now time.Time) healthComponent {
	st := c.licenseState(now)
	if st != n.licenseSeen {
		n.licenseSeen = st
		switch st {
		case LicenseGrace:
			c.nodeLog(n, "WARN", "i.a.axonserver.licensing.LicenseManager", fmt.Sprintf("License has expired, AxonServer will continue working until %s", c.topo.License.GraceUntil))
		case LicenseExpired:
			c.nodeLog(n, "ERROR", "i.a.axonserver.licensing.LicenseManager", "AxonServer License has expired")
		}
	}
	return healthComponent{Status: st}
}

// JSONLicenseInfo is GET /v1/public/license (PublicRestController.licenseInfo, LicenseInfo:
// expiryDate as a LocalDate, edition, licensee, featureList; se-4.5 … se-2023.2.1). It has no
// grace date and no node or context limits.
type JSONLicenseInfo struct {
	ExpiryDate  *string  `json:"expiryDate"`
	Edition     string   `json:"edition"`
	Licensee    *string  `json:"licensee"`
	FeatureList []string `json:"featureList"`
}

func (h *nodeHandler) license(w http.ResponseWriter, r *http.Request) {
	c := h.c
	c.mu.Lock()
	version, l := h.n.version, c.topo.License
	c.mu.Unlock()
	if !versionAtLeast(version, 4, 5) {
		writeJSON(w, http.StatusNotFound, map[string]any{"status": 404, "error": "Not Found", "path": r.URL.Path})
		return
	}
	out := JSONLicenseInfo{Edition: "Enterprise edition", FeatureList: []string{}}
	if l != nil {
		if l.Edition != "" {
			out.Edition = l.Edition
		}
		if l.Expiry != "" {
			d := l.Expiry
			if t, date, err := parseLicenseTime(l.Expiry, false); err == nil && !date {
				d = t.UTC().Format(time.DateOnly) // a LocalDate has no time of day
			}
			out.ExpiryDate = &d
		}
		if l.Licensee != "" {
			out.Licensee = &l.Licensee
		}
		if l.Features != nil {
			out.FeatureList = l.Features
		}
	}
	writeJSON(w, http.StatusOK, out)
}

// ---- logs ----

const nodeLogLines = 1000

// nodeLog appends a line in Axon Server's log format to the node's log (kept for the
// diagnostics download) and passes it to Options.Logf (the sandbox puts it in the pod's
// log). Caller holds c.mu.
func (c *Cluster) nodeLog(n *Node, level, logger, msg string) {
	line := fmt.Sprintf("%s %5s 1 --- [           main] %-40s : %s", time.Now().UTC().Format("2006-01-02 15:04:05.000"), level, logger, msg)
	n.log = append(n.log, line)
	if len(n.log) > nodeLogLines {
		n.log = n.log[len(n.log)-nodeLogLines:]
	}
	c.logf("log node=%s %s", n.name, line)
}

// AppendLog writes a line to node's log as the node would (a test plants text in a
// log: an application's line, a misconfiguration that logs a secret).
func (c *Cluster) AppendLog(node, level, msg string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodes[node]
	if n == nil {
		return fmt.Errorf("unknown node %q", node)
	}
	c.nodeLog(n, level, "i.a.axonserver.AxonServer", msg)
	return nil
}

// Log returns the lines of node's log (this simulator process's), oldest first.
func (c *Cluster) Log(node string) []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n := c.nodes[node]; n != nil {
		return append([]string(nil), n.log...)
	}
	return nil
}

// ---- diagnostics ----

// diagnose is GET /internal/diagnose/download: a zip of the node's diagnostics (the facts
// file: layout, logs, replication status, file lists, thread dump, health, metrics; the
// entries' names are the simulator's own, inferred).
func (h *nodeHandler) diagnose(w http.ResponseWriter, r *http.Request) {
	c, n := h.c, h.n
	c.mu.Lock()
	status, comps := c.localHealth(n, time.Now())
	raft := c.raftStatusOf(n)
	env := c.env(n)
	logLines := append([]string(nil), n.log...)
	dataDir, name, version := n.dataDir, n.name, n.version
	c.mu.Unlock()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	add := func(name string, b []byte) {
		f, err := zw.Create(name)
		if err == nil {
			_, _ = f.Write(b)
		}
	}
	js := func(v any) []byte { b, _ := json.MarshalIndent(v, "", "  "); return b }
	add("health.json", js(map[string]any{"status": status, "components": comps}))
	add("raft-status.json", js(raft))
	add("env.json", js(env))
	add("logs/axonserver.log", []byte(strings.Join(logLines, "\n")+"\n"))
	var files []string
	_ = filepath.WalkDir(dataDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			if info, err := d.Info(); err == nil {
				rel, _ := filepath.Rel(dataDir, p)
				files = append(files, fmt.Sprintf("%12d %s", info.Size(), rel))
			}
		}
		return nil
	})
	sort.Strings(files)
	add("files.txt", []byte(strings.Join(files, "\n")+"\n"))
	add("threaddump.txt", []byte(fmt.Sprintf("\"main\" #1 prio=5 os_prio=0 tid=0x1 nid=0x1 waiting on condition\n   java.lang.Thread.State: WAITING (parking)\n\n(axonsim %s, version %s)\n", name, version)))
	if err := zw.Close(); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf("attachment; filename=diagnostics-%s-%s.zip", name, time.Now().UTC().Format("20060102-150405")))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}
