package status

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

func licenseHealth(st string) *axonserver.Health {
	return &axonserver.Health{Status: st, Components: map[string]*axonserver.Health{"license": {Status: st}}}
}

func TestLicenseOf(t *testing.T) {
	obs := &inspect.Observation{Nodes: map[string]*inspect.NodeView{
		"a": {Health: licenseHealth("UP")}, "b": {Health: licenseHealth("WARN")},
		"c": {Health: &axonserver.Health{Status: "UP"}}, // 4.4: no license component
		"d": {},
	}}
	l := LicenseOf(obs)
	if l == nil || l.State != LicenseGrace || len(l.Nodes) != 2 || l.Nodes["a"] != LicenseValid {
		t.Fatalf("%+v", l)
	}
	now := time.Date(2026, 3, 10, 15, 0, 0, 0, time.UTC)
	l.AddInfo(&axonserver.LicenseInfo{ExpiryDate: "2026-03-01", Edition: "Enterprise edition"}, now)
	if l.DaysLeft == nil || *l.DaysLeft != -9 || l.Problem() == "" || l.Text() != "grace period: expired on 2026-03-01, Axon Server keeps working until its grace date" {
		t.Errorf("%+v %q %q", l, l.Text(), l.Problem())
	}
	if LicenseOf(&inspect.Observation{Nodes: map[string]*inspect.NodeView{"c": {Health: &axonserver.Health{Status: "UP"}}}}) != nil {
		t.Error("a license without a license component")
	}
	v := &LicenseStatus{State: LicenseValid}
	v.AddInfo(&axonserver.LicenseInfo{ExpiryDate: "2026-03-10"}, now)
	if *v.DaysLeft != 0 || v.Text() != "valid through 2026-03-10 (its last day)" || v.Problem() != "" {
		t.Errorf("%q %q", v.Text(), v.Problem())
	}
	v.AddInfo(&axonserver.LicenseInfo{ExpiryDate: "2026-03-11"}, now)
	if v.Text() != "valid through 2026-03-11 (1 day left)" {
		t.Errorf("%q", v.Text())
	}
}

func TestLicenseExpiredIsUnhealthy(t *testing.T) {
	f := newFx(3).group("default", 1, "1", "2", "3")
	if r := Build(f.input()); !r.Healthy || r.License != nil {
		t.Fatalf("baseline: healthy %v license %+v", r.Healthy, r.License)
	}
	for _, v := range f.obs.Nodes {
		v.Health.Components["license"] = &axonserver.Health{Status: "DOWN"}
	}
	r := Build(f.input())
	if r.Healthy || r.License == nil || r.License.State != LicenseExpired || !strings.Contains(r.Summary(), "license expired") {
		t.Errorf("healthy %v license %+v %q", r.Healthy, r.License, r.Summary())
	}
}
