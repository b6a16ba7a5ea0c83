package backup

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"
)

// The ways a backup reads the node's files.
const (
	// MethodFiles: an ephemeral container streams the files as tar over pods/exec.
	MethodFiles = "files"
	// MethodVolumeSnapshot: one CSI VolumeSnapshot per PVC of the source node.
	MethodVolumeSnapshot = "volume-snapshot"
)

// LabelBackup is the label every VolumeSnapshot of one backup carries; its value is
// the backup's ID (Manifest.BackupID).
const LabelBackup = "axoniq.io/backup"

// Claim is one PersistentVolumeClaim of the source pod: the pod's volume and the claim.
type Claim struct {
	Volume string `json:"volume"`
	Name   string `json:"claim"`
}

// VolumeSnapshot is one snapshot a backup took, as the manifest records it.
type VolumeSnapshot struct {
	Name      string `json:"name"`
	Namespace string `json:"namespace"`
	// Volume is the pod's volume, Claim its PVC.
	Volume string `json:"volume"`
	Claim  string `json:"claim"`
	// Content is the bound VolumeSnapshotContent; RestoreSize the smallest volume a
	// restore needs (a quantity, "10Gi").
	Content      string    `json:"content,omitempty"`
	RestoreSize  string    `json:"restoreSize,omitempty"`
	CreationTime time.Time `json:"creationTime,omitzero"`
}

// SnapshotState is what the cluster says of one VolumeSnapshot.
type SnapshotState struct {
	Ready        bool
	Error        string // status.error.message
	Content      string
	RestoreSize  string
	CreationTime time.Time
	Deleting     bool
}

var labelUnsafe = regexp.MustCompile(`[^a-z0-9-]+`)

// BackupID names a backup's snapshots: the cluster and the start time, lower case,
// short enough for a label value (63 characters).
func BackupID(cluster string, started time.Time) string {
	c := strings.Trim(labelUnsafe.ReplaceAllString(strings.ToLower(cluster), "-"), "-")
	if c == "" {
		c = "axon"
	}
	stamp := started.UTC().Format("20060102-150405")
	if max := 63 - len(stamp) - 1; len(c) > max {
		c = strings.TrimRight(c[:max], "-")
	}
	return c + "-" + stamp
}

// SnapshotName is the VolumeSnapshot of claim in the backup id: id-claim, cut to
// the 253 characters of an object name.
func SnapshotName(id, claim string) string {
	n := id + "-" + claim
	if len(n) > 253 {
		n = strings.TrimRight(n[:253], "-.")
	}
	return n
}

// SnapshotsDone judges a wait for the snapshots named want: done when every one is
// ready; failed names the first that reports an error, is gone, or is being deleted.
// waiting lists those not ready yet.
func SnapshotsDone(want []string, states map[string]SnapshotState, seen map[string]bool) (done bool, waiting []string, failed string) {
	for _, n := range want {
		st, ok := states[n]
		switch {
		case !ok && seen[n]:
			return false, nil, fmt.Sprintf("VolumeSnapshot %s was deleted before it was ready", n)
		case !ok:
			waiting = append(waiting, n)
		case st.Deleting:
			return false, nil, fmt.Sprintf("VolumeSnapshot %s is being deleted", n)
		case st.Error != "":
			return false, nil, fmt.Sprintf("VolumeSnapshot %s: %s", n, st.Error)
		case !st.Ready:
			waiting = append(waiting, n)
		}
	}
	return len(waiting) == 0, waiting, ""
}

// VerifySnapshots checks a volume-snapshot backup's snapshots against what the
// cluster says of them now (by name): each must exist, be ready to use and still be
// bound to the content the backup recorded.
func VerifySnapshots(m *Manifest, live map[string]SnapshotState) []string {
	var out []string
	if len(m.Snapshots) == 0 {
		return []string{"the manifest names no VolumeSnapshot"}
	}
	for _, s := range m.Snapshots {
		st, ok := live[s.Name]
		switch {
		case !ok:
			out = append(out, fmt.Sprintf("VolumeSnapshot %s/%s (claim %s) no longer exists", s.Namespace, s.Name, s.Claim))
		case st.Deleting:
			out = append(out, fmt.Sprintf("VolumeSnapshot %s/%s is being deleted", s.Namespace, s.Name))
		case !st.Ready:
			why := "not ready to use"
			if st.Error != "" {
				why += ": " + st.Error
			}
			out = append(out, fmt.Sprintf("VolumeSnapshot %s/%s is %s", s.Namespace, s.Name, why))
		case s.Content != "" && st.Content != s.Content:
			out = append(out, fmt.Sprintf("VolumeSnapshot %s/%s is bound to content %s, the backup recorded %s", s.Namespace, s.Name, st.Content, s.Content))
		}
	}
	return out
}

// SnapshotClaims are the claims of a pod's volumes (name -> claim), sorted by volume.
func SnapshotClaims(volumes map[string]string) []Claim {
	var out []Claim
	for v, c := range volumes {
		if c != "" {
			out = append(out, Claim{Volume: v, Name: c})
		}
	}
	slices.SortFunc(out, func(a, b Claim) int { return strings.Compare(a.Volume, b.Volume) })
	return out
}
