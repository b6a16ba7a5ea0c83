package doctor_test

import (
	"strings"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/doctor"
)

func TestConfigMinActiveBackups(t *testing.T) {
	tests := []struct {
		name   string
		byNode map[string]int
		want   string // the problem; "" for no finding
	}{
		{"not read", nil, ""},
		{"one node", map[string]int{"axonserver-1": 2}, ""},
		{"agree", map[string]int{"axonserver-1": 2, "axonserver-2": 2, "axonserver-3": 2}, ""},
		{"disagree", map[string]int{"axonserver-1": 2, "axonserver-2": 1, "axonserver-3": 1},
			"the nodes disagree on axoniq.axonserver.replication.min-active-backups (/actuator/env): 1 on axonserver-2, axonserver-3; 2 on axonserver-1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			in := doctor.Input{Cluster: "axonserver", Axon: &doctor.AxonFacts{MinActiveBackups: tc.byNode}}
			var got []doctor.Finding
			for _, f := range doctor.Run(in) {
				if f.Check == "config/min-active-backups-differ" {
					got = append(got, f)
				}
			}
			switch {
			case tc.want == "" && len(got) > 0:
				t.Errorf("finding %+v", got)
			case tc.want != "" && (len(got) != 1 || got[0].Problem != tc.want || got[0].Severity != doctor.Warning || !strings.Contains(got[0].Fix, "same value on every node (e.g. 2)")):
				t.Errorf("findings %+v; want %q", got, tc.want)
			}
		})
	}
}
