package lastlook

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
	"github.com/kubectl-axon/kubectl-axon/pkg/discovery"
	"github.com/kubectl-axon/kubectl-axon/pkg/inspect"
)

func TestPath(t *testing.T) {
	for _, c := range []struct{ dir, host, ns, want string }{
		{"/c", "https://10.0.0.1:6443", "axon", "/c/kubectl-axon/https___10.0.0.1_6443/axon.json"},
		{"/c", "https://api.example.com/prefix", "prod", "/c/kubectl-axon/https___api.example.com_prefix/prod.json"},
		{"", "https://10.0.0.1:6443", "axon", ""},
		{"/c", "https://10.0.0.1:6443", "", ""},
	} {
		if got := Path(c.dir, c.host, c.ns); got != c.want {
			t.Errorf("Path(%q, %q, %q) = %q, want %q", c.dir, c.host, c.ns, got, c.want)
		}
	}
}

func TestLoadIgnoresWhatItCannotUse(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string]string{
		"missing": "",
		"corrupt": "{not json",
		"foreign": `{"format": 99, "clusters": {"axonserver": {"viewFrom": "axonserver-1"}}}`,
	} {
		p := filepath.Join(dir, name+".json")
		if content != "" {
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
		}
		f := Load(p)
		if len(f.Clusters) != 0 || f.Format != format {
			t.Errorf("%s: Load = %+v, want an empty file", name, f)
		}
	}
}

func envSetting(value string) *axonserver.Env {
	return &axonserver.Env{PropertySources: []axonserver.PropertySource{
		{Name: "systemEnvironment", Properties: map[string]axonserver.PropertyValue{"PATH": {Value: "/bin"}}},
		{Name: "axonserver.properties", Properties: map[string]axonserver.PropertyValue{
			inspect.MinActiveBackupsKey:             {Value: value},
			"axoniq.axonserver.accesscontrol.token": {Value: "s3cret"},
		}},
	}}
}

// TestLearnSaveSeed: what one look learned reaches the next run's cache, for the
// processes still running only, and of the configuration only min-active-backups.
func TestLearnSaveSeed(t *testing.T) {
	info := &axonserver.Info{}
	info.App.Version = "2025.1.2"
	targets := []inspect.Target{
		{Node: "axonserver-1", Instance: "axonserver-1/uid-1/0"},
		{Node: "axonserver-2", Instance: "axonserver-2/uid-2/0"},
		{Node: "axonserver-3", Instance: "axonserver-3/uid-3/1"},
		{Node: "axonserver-4", Instance: ""}, // not cached: no instance
	}
	obs := &inspect.Observation{From: "axonserver-2", Nodes: map[string]*inspect.NodeView{
		"axonserver-1": {Node: "axonserver-1", Info: info, Env: envSetting("2")},
		"axonserver-2": {Node: "axonserver-2", Info: info, Env: &axonserver.Env{}}, // the default
		"axonserver-3": {Node: "axonserver-3", Info: info},                         // env not read
		"axonserver-4": {Node: "axonserver-4", Info: info, Env: envSetting("1")},
	}}
	path := filepath.Join(t.TempDir(), "cache", "axon.json")
	f := Load(path)
	f.Learn("axonserver", targets, obs, true)
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("the file: %v, %v; want mode 0600", st, err)
	}
	raw, _ := os.ReadFile(path)
	for _, secret := range []string{"s3cret", "PATH"} {
		if strings.Contains(string(raw), secret) {
			t.Errorf("the file holds %q:\n%s", secret, raw)
		}
	}

	next := Load(path)
	if got := next.Names(); len(got) != 1 || got[0] != "axonserver" {
		t.Fatalf("Names = %v", got)
	}
	if kc := next.Of("axonserver"); kc.ViewFrom != "axonserver-2" || !kc.License || len(kc.Processes) != 3 {
		t.Fatalf("Of = %+v", kc)
	}
	// The next run: axonserver-3 restarted (a new instance), axonserver-1 and -2 did not.
	now := []inspect.Target{targets[0], targets[1], {Node: "axonserver-3", Instance: "axonserver-3/uid-3/2"}}
	c := &inspect.Cache{}
	next.Seed("axonserver", now, c)
	api := &countingAPI{info: info, env: envSetting("3")}
	for i := range now {
		now[i].API = api
	}
	seen := inspect.Observe(t.Context(), now, inspect.Options{Cache: c})
	if api.infoCalls.Load() != 1 || api.envCalls.Load() != 1 {
		t.Errorf("asked info %d and env %d times, want once each (the restarted node)", api.infoCalls.Load(), api.envCalls.Load())
	}
	for node, want := range map[string]string{"axonserver-1": "2", "axonserver-2": "", "axonserver-3": "3"} {
		v := seen.Nodes[node]
		got, _, ok := v.Env.Property(inspect.MinActiveBackupsKey)
		if v.Version() != "2025.1.2" || got != want || ok != (want != "") {
			t.Errorf("%s: version %q, min-active-backups %q (set %v), want %q", node, v.Version(), got, ok, want)
		}
	}
	next.Learn("axonserver", now, seen, false)
	if _, old := next.Of("axonserver").Processes["axonserver-3/uid-3/1"]; old {
		t.Error("the stopped process is still kept")
	}
}

// countingAPI answers every question and counts the per-process ones.
type countingAPI struct {
	info                *axonserver.Info
	env                 *axonserver.Env
	infoCalls, envCalls atomic.Int32
}

func (a *countingAPI) Info(context.Context) (*axonserver.Info, error) {
	a.infoCalls.Add(1)
	return a.info, nil
}

func (a *countingAPI) Env(context.Context) (*axonserver.Env, error) {
	a.envCalls.Add(1)
	return a.env, nil
}

func (a *countingAPI) Me(context.Context) (*axonserver.NodeInfo, error) {
	return &axonserver.NodeInfo{Clustered: true, AdminNode: true}, nil
}

func (a *countingAPI) Public(context.Context) ([]axonserver.Node, error) { return nil, nil }

func (a *countingAPI) ReplicationGroups(context.Context) ([]axonserver.ReplicationGroup, error) {
	return nil, nil
}

func (a *countingAPI) Contexts(context.Context) ([]axonserver.Context, error) { return nil, nil }

func (a *countingAPI) RaftStatus(context.Context) ([]axonserver.RaftStatus, error) { return nil, nil }

func (a *countingAPI) Health(context.Context) (*axonserver.Health, error) {
	return &axonserver.Health{Status: "UP"}, nil
}

func TestZones(t *testing.T) {
	t0 := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	member := func(worker, zone string) discovery.Member {
		return discovery.Member{Worker: worker, Zone: zone, Pod: &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: worker}}}
	}
	f := Load("")
	f.SeedZones(&discovery.Cache{}, t0)
	f.LearnZones([]discovery.Member{member("w1", "z1"), member("w2", ""), member("", "")}, t0)
	if len(f.Zones) != 1 || f.Zones["w1"] != (Zone{Zone: "z1", Read: t0}) {
		t.Fatalf("learned %v, want w1 only (w2 has no zone: asked again)", f.Zones)
	}
	for _, c := range []struct {
		name   string
		at     time.Time
		seeded bool
	}{
		{"fresh", t0.Add(ZoneTTL - time.Second), true},
		{"expired", t0.Add(ZoneTTL), false},
		{"from the future (a clock set back)", t0.Add(-time.Minute), false},
	} {
		g := &File{Zones: map[string]Zone{"w1": f.Zones["w1"]}}
		c0 := &discovery.Cache{}
		g.SeedZones(c0, c.at)
		if g.seeded["w1"] != c.seeded {
			t.Errorf("%s: seeded %v, want %v", c.name, g.seeded["w1"], c.seeded)
		}
		// Read again (or taken from the file), the zone keeps its reading time only
		// when it came from the file.
		g.LearnZones([]discovery.Member{member("w1", "z1")}, c.at)
		want := c.at
		if c.seeded {
			want = t0
		}
		if got := g.Zones["w1"].Read; !got.Equal(want) {
			t.Errorf("%s: read at %v, want %v", c.name, got, want)
		}
	}
}
