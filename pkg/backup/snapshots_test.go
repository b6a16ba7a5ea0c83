package backup

import (
	"strings"
	"testing"
	"time"
)

func TestBackupIDAndSnapshotName(t *testing.T) {
	at := time.Date(2026, 11, 27, 8, 5, 9, 0, time.FixedZone("x", 3600))
	if got := BackupID("Axon_Prod", at); got != "axon-prod-20261127-070509" {
		t.Errorf("BackupID %q", got)
	}
	long := BackupID(strings.Repeat("c", 80), at)
	if len(long) > 63 || !strings.HasSuffix(long, "-20261127-070509") {
		t.Errorf("BackupID of a long name %q (%d)", long, len(long))
	}
	if got := SnapshotName("axon-20261127-070509", "events-axonserver-1-0"); got != "axon-20261127-070509-events-axonserver-1-0" {
		t.Errorf("SnapshotName %q", got)
	}
	if got := SnapshotName("axon", strings.Repeat("p", 300)); len(got) != 253 {
		t.Errorf("SnapshotName of a long claim: %d characters", len(got))
	}
	claims := SnapshotClaims(map[string]string{"log": "log-a-0", "data": "data-a-0", "config": ""})
	if len(claims) != 2 || claims[0] != (Claim{Volume: "data", Name: "data-a-0"}) || claims[1].Volume != "log" {
		t.Errorf("claims %v", claims)
	}
}

func TestSnapshotsDone(t *testing.T) {
	want := []string{"a", "b"}
	for _, tc := range []struct {
		name    string
		states  map[string]SnapshotState
		seen    map[string]bool
		done    bool
		waiting int
		failed  string
	}{
		{"none yet", nil, nil, false, 2, ""},
		{"one ready", map[string]SnapshotState{"a": {Ready: true}, "b": {}}, nil, false, 1, ""},
		{"all ready", map[string]SnapshotState{"a": {Ready: true}, "b": {Ready: true}}, nil, true, 0, ""},
		{"an error", map[string]SnapshotState{"a": {Ready: true}, "b": {Error: "unbound"}}, nil, false, 0, "VolumeSnapshot b: unbound"},
		{"deleted", map[string]SnapshotState{"a": {Ready: true}}, map[string]bool{"b": true}, false, 0, "VolumeSnapshot b was deleted before it was ready"},
		{"deleting", map[string]SnapshotState{"a": {Ready: true, Deleting: true}, "b": {Ready: true}}, nil, false, 0, "VolumeSnapshot a is being deleted"},
	} {
		done, waiting, failed := SnapshotsDone(want, tc.states, tc.seen)
		if done != tc.done || len(waiting) != tc.waiting || failed != tc.failed {
			t.Errorf("%s: done %v waiting %v failed %q", tc.name, done, waiting, failed)
		}
	}
}

func TestVerifySnapshots(t *testing.T) {
	m := &Manifest{Snapshots: []VolumeSnapshot{
		{Name: "a", Namespace: "axon", Claim: "data-0", Content: "ca"},
		{Name: "b", Namespace: "axon", Claim: "events-0", Content: "cb"},
	}}
	for _, tc := range []struct {
		name string
		live map[string]SnapshotState
		want []string
	}{
		{"sound", map[string]SnapshotState{"a": {Ready: true, Content: "ca"}, "b": {Ready: true, Content: "cb"}}, nil},
		{"gone", map[string]SnapshotState{"a": {Ready: true, Content: "ca"}}, []string{"VolumeSnapshot axon/b (claim events-0) no longer exists"}},
		{"not ready", map[string]SnapshotState{"a": {Error: "lost", Content: "ca"}, "b": {Ready: true, Content: "cb"}}, []string{"VolumeSnapshot axon/a is not ready to use: lost"}},
		{"rebound", map[string]SnapshotState{"a": {Ready: true, Content: "other"}, "b": {Ready: true, Content: "cb"}}, []string{"VolumeSnapshot axon/a is bound to content other, the backup recorded ca"}},
	} {
		got := VerifySnapshots(m, tc.live)
		if strings.Join(got, "|") != strings.Join(tc.want, "|") {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
	if got := VerifySnapshots(&Manifest{}, nil); len(got) != 1 {
		t.Errorf("no snapshots: %v", got)
	}
}
