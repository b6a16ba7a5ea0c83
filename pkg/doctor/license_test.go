package doctor_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
	"github.com/kubectl-axon/kubectl-axon/pkg/generate"
	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
)

func envOf(t *testing.T, props map[string]string) *axonserver.Env {
	t.Helper()
	p := map[string]any{}
	for k, v := range props {
		p[k] = map[string]any{"value": v}
	}
	b, _ := json.Marshal(map[string]any{"propertySources": []any{map[string]any{"name": "file", "properties": p}}})
	var e axonserver.Env
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

func TestConfigPathsAndDiffers(t *testing.T) {
	in := generated(t, generate.Options{Nodes: 3})
	good := map[string]string{
		nodeconfig.ControlDBBackup: "/axonserver/data/backups", nodeconfig.LogStorage: "/axonserver/log",
		nodeconfig.EventStorage: "/axonserver/events", nodeconfig.AccessControl: "true",
	}
	envs := map[string]*axonserver.Env{}
	var nodes []string
	for _, m := range in.Members {
		nodes = append(nodes, m.NodeName)
		envs[m.NodeName] = envOf(t, good)
	}
	tb := nodeconfig.Build(nodes, envs, nil)
	in.Axon = &doctor.AxonFacts{Config: &tb}
	if fs := append(find(doctor.Run(in), "config/path-not-on-volume"), find(doctor.Run(in), "config/differs")...); len(fs) != 0 {
		t.Fatalf("a good configuration: %s", dump(fs))
	}
	// axonserver-2 writes its control DB backups to the working directory (relative
	// path), its replication log to /tmp, and has access control off.
	bad := map[string]string{nodeconfig.ControlDBBackup: ".", nodeconfig.LogStorage: "/tmp/log",
		nodeconfig.EventStorage: "/axonserver/events", nodeconfig.AccessControl: "false"}
	envs[nodes[1]] = envOf(t, bad)
	tb = nodeconfig.Build(nodes, envs, nil)
	fs := doctor.Run(in)
	paths := find(fs, "config/path-not-on-volume")
	if len(paths) != 2 || paths[0].Severity != doctor.Error || paths[0].Object != "statefulset/"+nodes[1] ||
		!strings.Contains(dump(paths), "controldb-backup-location=/axonserver") || !strings.Contains(dump(paths), "log-storage-folder=/tmp/log") {
		t.Errorf("paths:\n%s", dump(fs))
	}
	differs := find(fs, "config/differs")
	if len(differs) != 3 || !strings.Contains(dump(differs), "accesscontrol.enabled") {
		t.Errorf("differs:\n%s", dump(differs))
	}
}

func TestLicenseFindings(t *testing.T) {
	days := func(n int) *int { return &n }
	for _, tt := range []struct {
		name    string
		l       doctor.License
		warn    int
		check   string
		sev     doctor.Severity
		problem string
	}{
		{"expired", doctor.License{State: "expired", ExpiryDate: "2026-01-01", DaysLeft: days(-40), Nodes: map[string]string{"a": "expired", "b": "expired"}}, 0,
			"license/expired", doctor.Error, "expired on 2026-01-01 and its grace period is over (license health DOWN on a, b)"},
		{"grace", doctor.License{State: "grace", ExpiryDate: "2026-01-01", Nodes: map[string]string{"a": "grace", "b": "valid"}}, 0,
			"license/grace", doctor.Warning, "(license health WARN on a)"},
		{"soon", doctor.License{State: "valid", ExpiryDate: "2026-02-01", DaysLeft: days(29)}, 0, "license/expires-soon", doctor.Warning, "in 29 days (--warn-days 30)"},
		{"soon enough", doctor.License{State: "valid", DaysLeft: days(29)}, 10, "", "", ""},
		{"far", doctor.License{State: "valid", DaysLeft: days(300)}, 0, "", "", ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			in := generated(t, generate.Options{Nodes: 3})
			in.WarnDays = tt.warn
			l := tt.l
			in.Axon = &doctor.AxonFacts{License: &l}
			var got []doctor.Finding
			for _, f := range doctor.Run(in) {
				if strings.HasPrefix(f.Check, "license/") {
					got = append(got, f)
				}
			}
			if tt.check == "" {
				if len(got) != 0 {
					t.Errorf("findings:\n%s", dump(got))
				}
				return
			}
			if len(got) != 1 || got[0].Check != tt.check || got[0].Severity != tt.sev || !strings.Contains(got[0].Problem, tt.problem) {
				t.Errorf("findings:\n%s", dump(got))
			}
		})
	}
}
