package axonsim

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func licenseTopology(image, license string) string {
	return `name: axonserver
image: ` + image + `
nodes: [{name: n1}, {name: n2}, {name: n3}]
replicationGroups:
  - {name: _admin, roles: {n1: PRIMARY, n2: PRIMARY, n3: PRIMARY}}
` + fastTiming + license
}

// licenseHealthOf is the node's overall status, its license component and the HTTP code.
func (tc *testCluster) licenseHealthOf(node string) (overall, license string, code int) {
	tc.t.Helper()
	var h struct {
		Status     string
		Components map[string]struct{ Status string }
	}
	code, _, b := tc.get(node, "/actuator/health", nil)
	if err := json.Unmarshal(b, &h); err != nil {
		tc.t.Fatalf("health %s: %v", b, err)
	}
	return h.Status, h.Components["license"].Status, code
}

func TestLicenseStates(t *testing.T) {
	day := func(d int) string { return time.Now().UTC().AddDate(0, 0, d).Format(time.DateOnly) }
	for _, tt := range []struct {
		name, license         string
		want, overall, logged string
		code                  int
	}{
		{"none", "", "UP", "UP", "", 200},
		{"valid through today", "license: {expiry: " + day(0) + "}\n", "UP", "UP", "", 200},
		{"in grace", "license: {expiry: " + day(-2) + ", graceUntil: " + day(5) + "}\n", "WARN", "WARN", "License has expired, AxonServer will continue working until " + day(5), 200},
		{"grace over", "license: {expiry: " + day(-10) + ", graceUntil: " + day(0) + "}\n", "DOWN", "DOWN", "AxonServer License has expired", 503},
		{"expired, no grace", "license: {expiry: " + day(-1) + "}\n", "DOWN", "DOWN", "AxonServer License has expired", 503},
	} {
		t.Run(tt.name, func(t *testing.T) {
			tc := newTestCluster(t, licenseTopology("axoniq/axonserver:2024.1.0-nonroot", tt.license))
			tc.startAll()
			overall, lic, code := tc.licenseHealthOf("n1")
			if lic != tt.want || overall != tt.overall || code != tt.code {
				t.Fatalf("health: overall %s license %s HTTP %d, want %s %s %d", overall, lic, code, tt.overall, tt.want, tt.code)
			}
			log := strings.Join(tc.Log("n1"), "\n")
			if !strings.Contains(log, "Started AxonServer in") {
				t.Errorf("no start line in the log:\n%s", log)
			}
			if tt.logged != "" && !strings.Contains(log, tt.logged) {
				t.Errorf("log lacks %q:\n%s", tt.logged, log)
			}
			if tt.logged == "" && strings.Contains(log, "License") {
				t.Errorf("a valid license logged:\n%s", log)
			}
		})
	}
}

func TestLicenseExpiresWhileRunning(t *testing.T) {
	exp := time.Now().Add(400 * time.Millisecond)
	grace := exp.Add(400 * time.Millisecond)
	tc := newTestCluster(t, licenseTopology("axoniq/axonserver:2024.1.0-nonroot",
		"license: {expiry: '"+exp.Format(time.RFC3339Nano)+"', graceUntil: '"+grace.Format(time.RFC3339Nano)+"'}\n"))
	tc.startAll()
	seen := map[string]time.Time{}
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline) && seen["DOWN"].IsZero(); {
		_, lic, _ := tc.licenseHealthOf("n2")
		if _, ok := seen[lic]; !ok {
			seen[lic] = time.Now()
		}
		time.Sleep(20 * time.Millisecond) // polling a clock-driven state
	}
	if seen["DOWN"].IsZero() || seen["WARN"].IsZero() {
		t.Fatalf("states seen %v, want UP, WARN, DOWN", seen)
	}
	if !seen["UP"].IsZero() && seen["UP"].After(exp) || seen["WARN"].Before(exp) || seen["DOWN"].Before(grace) {
		t.Errorf("states at the wrong time: %v (expiry %v, grace %v)", seen, exp, grace)
	}
}

func TestLicenseInfo(t *testing.T) {
	tc := newTestCluster(t, licenseTopology("axoniq/axonserver:2024.1.0-nonroot",
		"license: {expiry: 2031-05-01, graceUntil: 2031-06-01, licensee: ACME, features: [MULTI_CONTEXT]}\n"))
	tc.startAll()
	var li map[string]any
	code, _, b := tc.get("n3", "/v1/public/license", &li)
	if code != 200 {
		t.Fatalf("/v1/public/license: %d %s", code, b)
	}
	if li["expiryDate"] != "2031-05-01" || li["edition"] != "Enterprise edition" || li["licensee"] != "ACME" {
		t.Errorf("license info %s", b)
	}
	if _, ok := li["graceDate"]; ok || strings.Contains(string(b), "2031-06-01") {
		t.Errorf("the grace date is not part of LicenseInfo: %s", b)
	}
	// 4.4 has neither the license health component nor /v1/public/license.
	old := newTestCluster(t, licenseTopology("axoniq/axonserver-enterprise:4.4.2-dev-nonroot", "license: {expiry: 2020-01-01}\n"))
	old.startAll()
	if code, _, _ := old.get("n1", "/v1/public/license", nil); code != 404 {
		t.Errorf("4.4 /v1/public/license: %d, want 404", code)
	}
	var h map[string]any
	old.get("n1", "/actuator/health", &h)
	if d, _ := h["details"].(map[string]any); d == nil || d["license"] != nil {
		t.Errorf("4.4 health %v: want details without license", h)
	}
}

func TestLicenseTopologyErrors(t *testing.T) {
	for _, l := range []string{
		"license: {expiry: tomorrow}\n",
		"license: {graceUntil: 2030-01-01}\n",
		"license: {expiry: 2030-02-01, graceUntil: 2030-01-01}\n",
	} {
		if _, err := ParseTopology([]byte(licenseTopology("axoniq/axonserver:2024.1.0", l))); err == nil || !strings.Contains(err.Error(), "license") {
			t.Errorf("%q: error %v, want one about the license", l, err)
		}
	}
}

func TestDiagnoseDownload(t *testing.T) {
	tc := newTestCluster(t, licenseTopology("axoniq/axonserver:2024.1.0-nonroot", "accessToken: s3cr3t-diag\n"))
	tc.startAll()
	code, hdr, b := tc.get("n1", "/internal/diagnose/download", nil)
	if code != 200 || hdr.Get("Content-Type") != "application/zip" || !strings.Contains(hdr.Get("Content-Disposition"), ".zip") {
		t.Fatalf("download: %d %v", code, hdr)
	}
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, f := range zr.File {
		r, _ := f.Open()
		c, _ := io.ReadAll(r)
		got[f.Name] = string(c)
	}
	for _, name := range []string{"health.json", "raft-status.json", "env.json", "logs/axonserver.log", "files.txt", "threaddump.txt"} {
		if _, ok := got[name]; !ok {
			t.Errorf("no %s in %v", name, zr.File)
		}
	}
	if !strings.Contains(got["raft-status.json"], `"replicationGroup": "_admin"`) || !strings.Contains(got["logs/axonserver.log"], "Started AxonServer") {
		t.Errorf("content: %q / %q", got["raft-status.json"], got["logs/axonserver.log"])
	}
	if bytes.Contains(b, []byte("s3cr3t-diag")) {
		t.Error("the access token is in the diagnostics")
	}
	// behind access control, as /internal/** is
	req, _ := http.NewRequest(http.MethodGet, tc.Node("n1").URL()+"/internal/diagnose/download", nil)
	resp, err := tc.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusForbidden {
		t.Errorf("without a token: %d, want 403", resp.StatusCode)
	}
}
