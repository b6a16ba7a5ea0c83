package nodeconfig

import (
	"encoding/json"
	"testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/axonserver"
)

func env(t *testing.T, s string) *axonserver.Env {
	t.Helper()
	var e axonserver.Env
	if err := json.Unmarshal([]byte(s), &e); err != nil {
		t.Fatal(err)
	}
	return &e
}

const file = `Config resource 'file [/axonserver/config/axonserver.properties]'`

func TestBuild(t *testing.T) {
	envs := map[string]*axonserver.Env{
		"n1": env(t, `{"propertySources":[{"name":"systemEnvironment","properties":{"AXONIQ_AXONSERVER_NAME":{"value":"n1"}}},
			{"name":"`+file+`","properties":{"axoniq.axonserver.replication.min-active-backups":{"value":"1"},"axoniq.axonserver.controldb-backup-location":{"value":"/backup"}}}]}`),
		"n2": env(t, `{"propertySources":[{"name":"systemEnvironment","properties":{"AXONIQ_AXONSERVER_NAME":{"value":"n2"},"AXONIQ_AXONSERVER_REPLICATION_MIN_ACTIVE_BACKUPS":{"value":"2"}}},
			{"name":"`+file+`","properties":{"axoniq.axonserver.replication.min-active-backups":{"value":"1"},"axoniq.axonserver.controldb-backup-location":{"value":"******"}}}]}`),
		"n3": env(t, `{"propertySources":[{"name":"x","properties":{}}]}`),
	}
	tb := Build([]string{"n3", "n2", "n1", "n4"}, envs, map[string]string{"n4": "no pod"})
	if tb.Unread["n4"] != "no pod" || len(tb.Unread) != 1 {
		t.Errorf("unread %v", tb.Unread)
	}
	rows := map[string]Row{}
	for _, r := range tb.Rows {
		rows[r.Property] = r
	}
	mab := rows[MinActiveBackups]
	if !mab.Disagree || len(mab.Values) != 3 {
		t.Fatalf("min-active-backups %+v", mab)
	}
	if v := mab.Values[1]; v.Node != "n2" || v.Value != "2" || v.Source != "systemEnvironment" || !v.Set {
		t.Errorf("n2: %+v (the environment wins over the file)", v)
	}
	if v := mab.Values[2]; v.Node != "n3" || v.Value != "1" || !v.Default || v.Set {
		t.Errorf("n3: %+v (the default)", v)
	}
	if got := mab.Describe(); got != "1 on n1, n3; 2 on n2" {
		t.Errorf("describe %q", got)
	}
	if rows[Name].Disagree {
		t.Error("names differ by design")
	}
	// a masked value is not compared: /backup on n1, masked on n2, unset on n3 disagree
	// only because n3 sets nothing
	bk := rows[ControlDBBackup]
	if !bk.Values[1].Masked || !bk.Disagree {
		t.Errorf("backup %+v", bk)
	}
	if _, ok := tb.Get("n2", ControlDBBackup); ok {
		t.Error("a masked value was returned")
	}
	if v, ok := tb.Get("n1", ControlDBBackup); !ok || v != "/backup" {
		t.Errorf("get %q %v", v, ok)
	}
	if len(tb.Disagreements()) != 2 {
		t.Errorf("disagreements %v", tb.Disagreements())
	}
}

func TestAllMaskedAgree(t *testing.T) {
	m := `{"propertySources":[{"name":"f","properties":{"axoniq.axonserver.replication.min-active-backups":{"value":"******"}}}]}`
	tb := Build([]string{"a", "b"}, map[string]*axonserver.Env{"a": env(t, m), "b": env(t, `{"propertySources":[]}`)}, nil)
	for _, r := range tb.Rows {
		if r.Property == MinActiveBackups && r.Disagree {
			t.Errorf("masked vs default compared: %+v", r)
		}
	}
}
