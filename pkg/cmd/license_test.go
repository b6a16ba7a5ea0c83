package cmd

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
	"github.com/kubectl-axon/kubectl-axon/pkg/status"
)

func day(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }

func TestLicenseExpired(t *testing.T) {
	w := newWorld(t, threeNodes+"license: {expiry: "+day(-20)+", graceUntil: "+day(-5)+", licensee: ACME}\n")
	// status: red, with the date
	code, out, errOut := w.run(t, "status", "--exit-code")
	if code != cli.ExitRefused || !strings.Contains(out, "NOT HEALTHY") || !strings.Contains(out, "License: expired on "+day(-20)) ||
		!strings.Contains(out, "license has expired on "+day(-20)) || !strings.Contains(errOut, "license expired on "+day(-20)) {
		t.Errorf("status: exit %d\n%s\nstderr %q", code, out, errOut)
	}
	code, out, _ = w.run(t, "status", "-o", "json")
	var r status.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 {
		t.Fatalf("status json: exit %d %v\n%s", code, err, out)
	}
	if r.Healthy || r.License == nil || r.License.State != status.LicenseExpired || r.License.ExpiryDate != day(-20) ||
		r.License.DaysLeft == nil || *r.License.DaysLeft != -20 || len(r.License.Nodes) != 3 {
		t.Errorf("status json license %+v healthy %v", r.License, r.Healthy)
	}
	// doctor: an error with the date
	code, out, _ = w.run(t, "doctor", "-o", "json")
	d := decodeDoctor(t, out)
	if code != cli.ExitRefused || !hasFinding(d, "license/expired", "cluster/axonserver", doctor.Error) || !strings.Contains(out, "expired on "+day(-20)) {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
	// license: exit 3, details
	code, out, errOut = w.run(t, "license")
	if code != cli.ExitRefused || !strings.Contains(out, "license expired on "+day(-20)) || !strings.Contains(out, "ACME") ||
		!strings.Contains(out, "Enterprise edition") || strings.Count(errOut, "\n") != 1 {
		t.Errorf("license: exit %d\n%s\nstderr %q", code, out, errOut)
	}
}

func TestLicenseGraceAndSoon(t *testing.T) {
	w := newWorld(t, threeNodes+"license: {expiry: "+day(-1)+", graceUntil: "+day(10)+"}\n")
	code, out, _ := w.run(t, "status", "--exit-code")
	if code != cli.ExitOK || !strings.Contains(out, "grace period") {
		t.Errorf("grace: status is healthy with a warning; exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "doctor", "-o", "json")
	if d := decodeDoctor(t, out); !hasFinding(d, "license/grace", "cluster/axonserver", doctor.Warning) {
		t.Errorf("doctor grace: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "license", "-o", "json")
	var lr LicenseReport
	if err := json.Unmarshal([]byte(out), &lr); err != nil || code != cli.ExitRefused || lr.State != status.LicenseGrace || lr.ExpiryDate != day(-1) {
		t.Errorf("license json grace: exit %d %v\n%s", code, err, out)
	}

	soon := newWorld(t, threeNodes+"license: {expiry: "+day(12)+"}\n")
	code, out, _ = soon.run(t, "doctor", "-o", "json")
	if d := decodeDoctor(t, out); !hasFinding(d, "license/expires-soon", "cluster/axonserver", doctor.Warning) || !strings.Contains(out, "in 12 days") {
		t.Errorf("doctor soon: exit %d\n%s", code, out)
	}
	code, out, _ = soon.run(t, "doctor", "-o", "json", "--warn-days", "7")
	if d := decodeDoctor(t, out); hasFinding(d, "license/expires-soon", "cluster/axonserver", doctor.Warning) {
		t.Errorf("doctor --warn-days 7: exit %d\n%s", code, out)
	}
	code, out, _ = soon.run(t, "license")
	if code != cli.ExitOK || !strings.Contains(out, "valid through "+day(12)+" (12 days left)") || !strings.Contains(out, "expires within 30 days") {
		t.Errorf("license soon: exit %d\n%s", code, out)
	}
	code, out, _ = soon.run(t, "status")
	if code != cli.ExitOK || !strings.Contains(out, "License: valid through "+day(12)) {
		t.Errorf("status soon: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"license", "--warn-days", "-1"}, {"doctor", "--warn-days", "-2"}, {"license", "-o", "wide"}, {"license", "extra"}} {
		code, out, errOut := soon.run(t, args[0], args[1:]...)
		if code != cli.ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, out %q, stderr %q", args, code, out, errOut)
		}
	}
}

func TestConfigCommand(t *testing.T) {
	topo := strings.Replace(threeNodes, "  - {name: axonserver-3, worker: worker-c}", "  - {name: axonserver-3, worker: worker-c, minActiveBackups: 2}", 1)
	w := newWorld(t, topo)
	code, out, errOut := w.run(t, "config", "-o", "json")
	if code != 0 {
		t.Fatalf("exit %d %s", code, errOut)
	}
	var r ConfigReport
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, row := range r.Rows {
		if row.Property == "axoniq.axonserver.replication.min-active-backups" {
			found = true
			if !row.Disagree || len(row.Values) != 3 || row.Values[2].Value != "2" || !strings.Contains(row.Values[2].Source, "axonserver.properties") {
				t.Errorf("min-active-backups %+v", row)
			}
		} else if row.Disagree && !row.PerNode {
			t.Errorf("%s disagrees: %+v", row.Property, row)
		}
	}
	if !found || len(r.Nodes) != 3 {
		t.Errorf("nodes %v\n%s", r.Nodes, out)
	}
	code, out, _ = w.run(t, "config")
	if code != 0 || !strings.Contains(out, "the nodes disagree on axoniq.axonserver.replication.min-active-backups: 1 on axonserver-1, axonserver-2; 2 on axonserver-3") {
		t.Errorf("table: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "config", "axonserver-2", "-o", "json")
	if err := json.Unmarshal([]byte(out), &r); err != nil || code != 0 || len(r.Nodes) != 1 || r.Nodes[0] != "axonserver-2" {
		t.Errorf("one node: exit %d\n%s", code, out)
	}
	code, out, _ = w.run(t, "doctor", "-o", "json")
	if d := decodeDoctor(t, out); !hasFinding(d, "config/min-active-backups-differ", "cluster/axonserver", doctor.Warning) {
		t.Errorf("doctor: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{{"axonserver-9"}, {"axonserver-1", "axonserver-1"}, {"-o", "wide"}} {
		code, out, errOut := w.run(t, "config", args...)
		if code != cli.ExitUsage || out != "" || strings.Count(errOut, "\n") != 1 {
			t.Errorf("%v: exit %d, out %q, stderr %q", args, code, out, errOut)
		}
	}
}
