//go:build e2e

package e2e

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// reportManifest is the part of manifest.json the tests read.
type reportManifest struct {
	Complete bool `json:"complete"`
	Items    []struct {
		Path, Status, Reason string
		Size                 int
	} `json:"items"`
}

// unzipAll returns every entry of a zip, nested zips unpacked under "<entry>/".
func unzipAll(t *testing.T, b []byte) map[string][]byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("not a zip: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(rc)
		rc.Close()
		out[f.Name] = data
		if strings.HasSuffix(f.Name, ".zip") {
			for k, v := range unzipAll(t, data) {
				out[f.Name+"/"+k] = v
			}
		}
	}
	return out
}

// Report runs kubectl axon report as the operator into a new file and returns the
// result, the zip's entries and its manifest.
func (s *Sandbox) Report(name string, env ...string) (Result, map[string][]byte, reportManifest) {
	s.t.Helper()
	file := filepath.Join(s.Dir, name)
	args := append(append([]string{"env"}, env...), "kubectl", "axon", "report", "-n", s.Namespace, "-f", file, "--axon-timeout", "5s")
	start := time.Now()
	r := s.Run(s.Kubeconfig(true), args...)
	took := time.Since(start)
	raw, err := os.ReadFile(file)
	if err != nil {
		s.t.Fatalf("no report written: %v\n%s", err, r)
	}
	files := unzipAll(s.t, raw)
	s.t.Logf("report %s: exit %d in %s, %d bytes, %d entries", name, r.Code, took.Round(10*time.Millisecond), len(raw), len(files))
	files["<raw zip>"] = raw
	var m reportManifest
	if err := json.Unmarshal(files["manifest.json"], &m); err != nil {
		s.t.Fatalf("manifest: %v\n%s", err, r)
	}
	return r, files, m
}

func (s *Sandbox) sandboxCmd(args ...string) {
	s.t.Helper()
	out, err := exec.Command(filepath.Join(binDir, "axon-sandbox"), append([]string{args[0], "--dir", s.Dir}, args[1:]...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("axon-sandbox %v: %v\n%s", args, err, out)
	}
}

// TestReport: config and doctor find the node with another min-active-backups; a
// report of the healthy cluster is complete (exit 0) and holds a token planted in the
// environment, a ConfigMap, a Secret and a log line nowhere; a report with a node
// crash-looping records that node's REST failures, holds its previous container's
// log, and exits 3.
func TestReport(t *testing.T) {
	s := StartSandbox(t, "testdata/report.yaml")
	token := s.Topology.AccessToken
	s.WaitStatus(2*time.Minute, "healthy", allHealthy)

	// config and doctor: axonserver-3's min-active-backups
	r := s.Run(s.Kubeconfig(true), "kubectl", "axon", "config", "-n", s.Namespace)
	if r.Code != 0 || !strings.Contains(r.Stdout, "the nodes disagree on axoniq.axonserver.replication.min-active-backups: 1 on axonserver-1, axonserver-2; 2 on axonserver-3") {
		t.Errorf("config:\n%s", r)
	}
	d, dr := s.Doctor(true)
	if f := d.find("config/min-active-backups-differ", "cluster/"+s.Topology.Name); f == nil || !strings.Contains(f.Problem, "2 on axonserver-3") {
		t.Errorf("doctor:\n%s\n%s", d, dr)
	}
	if f := d.find("config/path-not-on-volume", "statefulset/axonserver-1"); f != nil {
		t.Errorf("the sandbox's paths are on volumes:\n%s", d)
	}

	// plant the token
	s.Kubectl("-n", s.Namespace, "create", "configmap", "planted", "--from-literal=notes.txt=the admin token is "+token)
	s.Kubectl("-n", s.Namespace, "create", "secret", "generic", "planted", "--from-literal=password="+token)
	s.sandboxCmd("log", "axonserver-2", "debug: connecting with AxonIQ-Access-Token "+token)
	r, files, m := s.Report("healthy.zip", "KUBECTL_AXON_TOKEN="+token)
	if r.Code != 0 || !m.Complete {
		t.Fatalf("healthy report: %s\nerrors.txt:\n%s", r, files["errors.txt"])
	}
	for name, data := range files {
		if bytes.Contains(data, []byte(token)) {
			t.Errorf("the token is in %s", name)
		}
	}
	if strings.Contains(r.Stdout+r.Stderr, token) {
		t.Error("the token is in the output")
	}
	if !bytes.Contains(files["kubernetes/configmaps.yaml"], []byte("the admin token is ******")) {
		t.Errorf("the planted ConfigMap is not in the report, masked:\n%s", files["kubernetes/configmaps.yaml"])
	}
	if log := files["logs/axonserver-2-0/axonserver.log"]; !bytes.Contains(log, []byte("AxonIQ-Access-Token ******")) || !bytes.Contains(log, []byte("Started AxonServer")) {
		t.Errorf("the planted log line is not in the report, masked:\n%s", log)
	}
	for _, p := range []string{"README.txt", "kubernetes/statefulsets.yaml", "kubernetes/events.yaml", "kubernetes/nodes.yaml",
		"axon/axonserver-1/raft-status.json", "axon/axonserver-3/actuator-env.json", "axon/axonserver-2/diagnostics.zip/raft-status.json",
		"kubectl-axon/status.json", "kubectl-axon/doctor.json", "kubectl-axon/config.json"} {
		if len(files[p]) == 0 {
			t.Errorf("no %s in the report", p)
		}
	}
	for _, it := range m.Items {
		if it.Path == "kubernetes/secrets.yaml" && (it.Status != "skipped" || !strings.Contains(it.Reason, "forbidden")) {
			t.Errorf("the operator may not list Secrets: %+v", it)
		}
	}

	// axonserver-3 down: on an image it crashes on, until it is in CrashLoopBackOff
	s.Kubectl("-n", s.Namespace, "set", "image", "statefulset/axonserver-3", "axonserver=axoniq/axonserver:2024.2.0-nonroot")
	deadline := time.Now().Add(3 * time.Minute)
	for {
		// --ignore-not-found: the StatefulSet controller deletes the pod before it
		// creates it again on the new image, and a GET between the two finds none.
		out := s.Kubectl("-n", s.Namespace, "get", "pod", "axonserver-3-0", "--ignore-not-found", "-o",
			"jsonpath={.spec.containers[0].image} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.waiting.reason}")
		var image, reason string
		var restarts int
		fmt.Sscan(out, &image, &restarts, &reason)
		if strings.Contains(image, "2024.2.0") && restarts >= 3 && reason == "CrashLoopBackOff" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("axonserver-3 never crash-looped: %q", out)
		}
		time.Sleep(500 * time.Millisecond) // the pod's state has no watch here
	}
	r, files, m = s.Report("down.zip")
	if r.Code != 3 || m.Complete || !strings.Contains(r.Stderr, "incomplete") {
		t.Fatalf("report with a node down: %s", r)
	}
	for _, it := range m.Items {
		switch {
		case strings.HasPrefix(it.Path, "axon/axonserver-3/"):
			if it.Status != "failed" || it.Reason == "" {
				t.Errorf("node down, item %+v", it)
			}
		case it.Status == "failed":
			t.Errorf("another item failed: %+v", it)
		}
	}
	if prev := files["logs/axonserver-3-0/axonserver.previous.log"]; !bytes.Contains(prev, []byte("Started AxonServer")) {
		t.Errorf("no previous log of axonserver-3:\n%s", prev)
	}
	if !bytes.Contains(files["errors.txt"], []byte("axon/axonserver-3/")) || len(files["axon/axonserver-1/raft-status.json"]) == 0 {
		t.Errorf("errors.txt:\n%s", files["errors.txt"])
	}
}

// TestLicenseExpires: a license that expires during the test turns status and doctor
// red, with the date; license says so and exits 3.
func TestLicenseExpires(t *testing.T) {
	b, err := os.ReadFile("testdata/three.yaml")
	if err != nil {
		t.Fatal(err)
	}
	expiry := time.Now().Add(90 * time.Second).UTC()
	topo := strings.Replace(string(b), "name: axon3\nnamespace: axon-k8s\n", "name: axlic\nnamespace: axon-license\n", 1) +
		fmt.Sprintf("license: {expiry: '%s', licensee: e2e}\n", expiry.Format(time.RFC3339))
	path := filepath.Join(t.TempDir(), "license.yaml")
	if err := os.WriteFile(path, []byte(topo), 0o644); err != nil {
		t.Fatal(err)
	}
	s := StartSandbox(t, path)
	date := expiry.Format(time.DateOnly)
	st := s.WaitStatus(2*time.Minute, "healthy", allHealthy)
	if time.Now().After(expiry) {
		t.Skip("the sandbox took longer to come up than the license lived")
	}
	r := s.Run(s.Kubeconfig(true), "kubectl", "axon", "status", "-n", s.Namespace)
	if r.Code != 0 || !strings.Contains(r.Stdout, "License: valid through "+date) {
		t.Errorf("before expiry:\n%s", r)
	}
	_ = st
	st = s.WaitStatus(time.Until(expiry)+time.Minute, "license expired", func(st Status) bool { return !st.Healthy })
	r = s.Run(s.Kubeconfig(true), "kubectl", "axon", "status", "-n", s.Namespace, "--exit-code")
	if r.Code != 3 || !strings.Contains(r.Stdout, "License: expired on "+date) || !strings.Contains(r.Stderr, "license expired on "+date) {
		t.Errorf("status after expiry:\n%s", r)
	}
	d, dr := s.Doctor(true)
	if f := d.find("license/expired", "cluster/"+s.Topology.Name); f == nil || f.Severity != "error" || !strings.Contains(f.Problem, date) || dr.Code != 3 {
		t.Errorf("doctor after expiry:\n%s\n%s", d, dr)
	}
	r = s.Run(s.Kubeconfig(true), "kubectl", "axon", "license", "-n", s.Namespace)
	if r.Code != 3 || !strings.Contains(r.Stdout, "license expired on "+date) {
		t.Errorf("license after expiry:\n%s", r)
	}
}
