//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// DoctorReport is the part of `kubectl axon doctor -o json` the tests read.
type DoctorReport struct {
	Cluster  string          `json:"cluster"`
	Summary  map[string]int  `json:"summary"`
	Findings []DoctorFinding `json:"findings"`
}

type DoctorFinding struct {
	Severity string `json:"severity"`
	Check    string `json:"check"`
	Object   string `json:"object"`
	Problem  string `json:"problem"`
	Fix      string `json:"fix"`
}

func (r DoctorReport) find(check, object string) *DoctorFinding {
	for i := range r.Findings {
		if r.Findings[i].Check == check && r.Findings[i].Object == object {
			return &r.Findings[i]
		}
	}
	return nil
}

func (r DoctorReport) String() string {
	var b strings.Builder
	for _, f := range r.Findings {
		fmt.Fprintf(&b, "  %s %s %s: %s\n", f.Severity, f.Check, f.Object, f.Problem)
	}
	return b.String()
}

// Doctor runs `kubectl axon doctor -o json` as admin or operator; it exits 0, or 3
// when a finding is an error.
func (s *Sandbox) Doctor(operator bool) (DoctorReport, Result) {
	s.t.Helper()
	r := s.Run(s.Kubeconfig(operator), "kubectl", "axon", "doctor", "-n", s.Namespace, "-o", "json")
	if r.Code != 0 && r.Code != 3 {
		s.t.Fatalf("%s", r)
	}
	var d DoctorReport
	if err := json.Unmarshal([]byte(r.Stdout), &d); err != nil {
		s.t.Fatalf("doctor JSON: %v\n%s", err, r)
	}
	return d, r
}

// TestDoctor: the sandbox, laid out as AxonIQ's examples, has no error, for the
// admin and for the operator bound to docs/rbac.yaml only; each documented bad
// layout is then reported as an error.
func TestDoctor(t *testing.T) {
	t.Parallel()
	s := StartSandbox(t, "testdata/three.yaml")
	ns := s.Namespace

	t.Run("Clean", func(t *testing.T) {
		s.t = t
		for _, op := range []bool{false, true} {
			d, r := s.Doctor(op)
			if r.Code != 0 || d.Summary["error"] != 0 {
				t.Errorf("operator=%v: exit %d, findings:\n%s", op, r.Code, d)
			}
			for _, f := range d.Findings {
				if f.Check == "doctor/skipped" || f.Check == "doctor/axon-unreachable" {
					t.Errorf("operator=%v: %s %s: %s", op, f.Check, f.Object, f.Problem)
				}
			}
			if !op {
				t.Logf("doctor on the sandbox: %v\n%s", d.Summary, d)
			}
			if d.Cluster != s.Topology.Name {
				t.Errorf("cluster %q", d.Cluster)
			}
		}
	})

	t.Run("BadLayouts", func(t *testing.T) {
		s.t = t
		// axonserver-2 takes the bad pod template; OnDelete keeps its pod running
		// as it was, since doctor reads the StatefulSet.
		s.Kubectl("-n", ns, "patch", "statefulset", "axonserver-2", "-p", `{"spec":{"updateStrategy":{"type":"OnDelete","rollingUpdate":null}}}`)
		var sts struct {
			Spec struct {
				Template struct {
					Spec struct {
						Volumes    []json.RawMessage `json:"volumes"`
						Containers []struct {
							VolumeMounts []struct {
								MountPath string `json:"mountPath"`
							} `json:"volumeMounts"`
						} `json:"containers"`
					} `json:"spec"`
				} `json:"template"`
			} `json:"spec"`
		}
		if err := json.Unmarshal([]byte(s.Kubectl("-n", ns, "get", "statefulset", "axonserver-2", "-o", "json")), &sts); err != nil {
			t.Fatal(err)
		}
		events := -1
		for i, m := range sts.Spec.Template.Spec.Containers[0].VolumeMounts {
			if m.MountPath == "/axonserver/events" {
				events = i
			}
		}
		if events < 0 {
			t.Fatal("axonserver-2 mounts nothing at /axonserver/events")
		}
		addVolume := `{"op":"add","path":"/spec/template/spec/volumes","value":[{"name":"scratch","emptyDir":{}}]}`
		if len(sts.Spec.Template.Spec.Volumes) > 0 {
			addVolume = `{"op":"add","path":"/spec/template/spec/volumes/-","value":{"name":"scratch","emptyDir":{}}}`
		}
		patch := `[` +
			`{"op":"replace","path":"/spec/template/spec/containers/0/livenessProbe/httpGet/path","value":"/actuator/health"},` +
			`{"op":"replace","path":"/spec/template/spec/terminationGracePeriodSeconds","value":30},` +
			addVolume + `,` +
			fmt.Sprintf(`{"op":"replace","path":"/spec/template/spec/containers/0/volumeMounts/%d/name","value":"scratch"},`, events) +
			`{"op":"replace","path":"/spec/template/spec/containers/0/image","value":"axoniq/axonserver:latest"}]`
		s.Kubectl("-n", ns, "patch", "statefulset", "axonserver-2", "--type=json", "-p", patch)
		// A StatefulSet of three Axon Server nodes.
		s.Kubectl("-n", ns, "patch", "statefulset", "axonserver-3", "-p", `{"spec":{"replicas":3}}`)

		d, r := s.Doctor(false)
		if r.Code != 3 {
			t.Errorf("exit %d with bad layouts, want 3", r.Code)
		}
		for _, c := range []struct{ check, object, problem string }{
			{"statefulset/replicas", "statefulset/axonserver-3", "3 replicas"},
			{"probes/liveness-on-health", "statefulset/axonserver-2", "/actuator/health"},
			{"shutdown/grace-period", "statefulset/axonserver-2", "is 30"},
			{"storage/ephemeral", "statefulset/axonserver-2", "events (/axonserver/events) is on emptyDir"},
			{"image/latest", "statefulset/axonserver-2", ":latest"},
		} {
			f := d.find(c.check, c.object)
			switch {
			case f == nil:
				t.Errorf("no %s on %s; findings:\n%s", c.check, c.object, d)
			case f.Severity != "error" || !strings.Contains(f.Problem, c.problem):
				t.Errorf("%s on %s: %s %q", c.check, c.object, f.Severity, f.Problem)
			}
		}
		// The fix doctor gives for the probe is a patch that works.
		if f := d.find("probes/liveness-on-health", "statefulset/axonserver-2"); f != nil {
			args := strings.Fields(strings.ReplaceAll(strings.TrimPrefix(f.Fix, "kubectl "), "'", ""))
			s.Kubectl(args...)
			if d, _ := s.Doctor(false); d.find("probes/liveness-on-health", "statefulset/axonserver-2") != nil {
				t.Errorf("the fix %q did not fix it", f.Fix)
			}
		}

		// Put things back: the template as it was, one replica.
		s.Kubectl("-n", ns, "rollout", "undo", "statefulset/axonserver-2", "--to-revision=1")
		s.Kubectl("-n", ns, "scale", "statefulset", "axonserver-3", "--replicas=1")
		s.Kubectl("-n", ns, "wait", "--for=delete", "pod/axonserver-3-1", "pod/axonserver-3-2", "--timeout=180s")
		if d, r := s.Doctor(false); r.Code != 0 {
			t.Errorf("after the repair: exit %d\n%s", r.Code, d)
		}
	})
}
