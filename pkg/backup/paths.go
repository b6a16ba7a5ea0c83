package backup

import (
	"fmt"
	"path"
	"strings"

	"github.com/kubectl-axon/kubectl-axon/pkg/nodeconfig"
)

// Mount is one volume the Axon Server container mounts.
type Mount struct {
	Volume string
	Path   string
	// Persistent: a PersistentVolumeClaim's volume (an emptyDir is gone with the pod).
	Persistent bool
}

// Location is where a path of Axon Server's lies: on which mount, and under which
// name inside it.
type Location struct {
	Path  string // absolute, as the container sees it
	Mount Mount
}

// Locate resolves p (relative paths against workDir, Axon Server's working directory)
// and finds the mount that holds it, the deepest one. ok is false when p is on the
// container's own filesystem: a file written there is lost with the container and
// no other container can read it.
func Locate(p, workDir string, mounts []Mount) (Location, bool) {
	p = nodeconfig.Resolve(p, workDir)
	paths := make([]string, len(mounts))
	for i, m := range mounts {
		paths[i] = m.Path
	}
	i := nodeconfig.Holder(p, paths)
	if i < 0 {
		return Location{Path: p}, false
	}
	m := mounts[i]
	m.Path = path.Clean(m.Path)
	return Location{Path: p, Mount: m}, true
}

// Storage is where a node keeps what a backup copies, as the container sees it.
type Storage struct {
	Events, Snapshots, Log, ControlDBBackup string
}

// Property names the storage paths in Axon Server's configuration; Defaults are
// its values when nothing sets them (relative to the working directory).
var (
	StorageProperties = Storage{
		Events:          nodeconfig.EventStorage,
		Snapshots:       nodeconfig.SnapshotStorage,
		Log:             nodeconfig.LogStorage,
		ControlDBBackup: nodeconfig.ControlDBBackup,
	}
	StorageDefaults = Storage{Events: "./data", Snapshots: "./data", Log: "./log", ControlDBBackup: "."}
)

// CheckStorage resolves each storage path and refuses one that is not on a
// persistent volume of the pod: the backup reads the files from the volumes, and
// the Control DB zip written off them would be lost (and unreadable to the backup's
// container). The error names the property and the fix.
func CheckStorage(s Storage, workDir string, mounts []Mount) (Storage, error) {
	var out Storage
	var bad []string
	for _, x := range []struct {
		key, val string
		dst      *string
	}{
		{StorageProperties.Events, s.Events, &out.Events},
		{StorageProperties.Snapshots, s.Snapshots, &out.Snapshots},
		{StorageProperties.Log, s.Log, &out.Log},
		{StorageProperties.ControlDBBackup, s.ControlDBBackup, &out.ControlDBBackup},
	} {
		loc, ok := Locate(x.val, workDir, mounts)
		*x.dst = loc.Path
		switch {
		case !ok:
			bad = append(bad, fmt.Sprintf("%s=%s is on the container's own filesystem", x.key, loc.Path))
		case !loc.Mount.Persistent:
			bad = append(bad, fmt.Sprintf("%s=%s is on volume %s, which is not a PersistentVolumeClaim", x.key, loc.Path, loc.Mount.Volume))
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s: set it to a directory on the node's volumes (kubectl axon generate puts it under /axonserver/data)", strings.Join(bad, "; "))
	}
	return out, nil
}
