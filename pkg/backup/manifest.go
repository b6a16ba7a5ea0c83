package backup

import (
	"archive/zip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// ManifestFile is the name of the manifest in a backup directory.
const ManifestFile = "manifest.json"

// The directories of a backup, in the event store's own layout below each:
// events/<context>/<segment>.events (and snapshots there, as Axon Server keeps them
// by default), snapshots/<context>/... when the snapshot storage is elsewhere,
// log/<group>/<segment>.log, controldb/controldb<millis>.zip.
const (
	DirEvents    = "events"
	DirSnapshots = "snapshots"
	DirLog       = "log"
	DirControlDB = "controldb"
)

// Format is the manifest's format version.
const Format = 1

// Manifest describes one backup directory.
type Manifest struct {
	Format    int    `json:"format"`
	Cluster   string `json:"cluster"`
	Namespace string `json:"namespace"`
	// Node is the node the files were copied from; ControlDBNode the one whose
	// Control DB was exported.
	Node              string    `json:"node"`
	Reason            string    `json:"reason"`
	ControlDBNode     string    `json:"controlDbNode"`
	AxonServerVersion string    `json:"axonServerVersion"`
	Method            string    `json:"method"`
	Started           time.Time `json:"started"`
	Finished          time.Time `json:"finished,omitzero"`
	// Complete is true only when every step ended within the window after the
	// Control DB export; Incomplete says why not.
	Complete   bool   `json:"complete"`
	Incomplete string `json:"incomplete,omitempty"`
	// Since is the backup this one continues (--since), as its manifest named it.
	Since *SinceRef `json:"since,omitempty"`
	// ControlDB is the Control DB zip, a path relative to the directory.
	ControlDB string `json:"controlDb,omitempty"`
	// Groups maps each replication group to its log files (relative paths).
	Groups map[string][]string `json:"groups,omitempty"`
	// Contexts maps each context and file type (EVENT, SNAPSHOT) to its segments.
	Contexts map[string]map[string]*Segments `json:"contexts,omitempty"`
	// Members maps every replication group of the cluster to its members and their
	// roles when the backup was taken: a restore gives each node the files of its
	// groups from it. Absent in backups by versions before restore existed.
	Members map[string]map[string]string `json:"members,omitempty"`
	// ContextGroups maps each context of the backup to its replication group.
	ContextGroups map[string]string `json:"contextGroups,omitempty"`
	Steps         []Step            `json:"steps"`
	Files         []File            `json:"files"`
	// BackupID (method volume-snapshot) is the value of LabelBackup on its snapshots;
	// Snapshots are those snapshots, one per PVC of the node; NodeStopped says the
	// node was stopped while they were taken (--stop-node).
	BackupID    string           `json:"backupId,omitempty"`
	Snapshots   []VolumeSnapshot `json:"snapshots,omitempty"`
	NodeStopped bool             `json:"nodeStopped,omitempty"`
}

// SinceRef names the backup an incremental one continues.
type SinceRef struct {
	Dir     string    `json:"dir"`
	Started time.Time `json:"started"`
}

// Segments is what was copied of one context's files of one type.
type Segments struct {
	// After is the last closed segment of the previous backup (-1: none): only
	// segments after it were copied.
	After int64 `json:"after"`
	// LastClosed is the newest closed segment when the files were listed, named as
	// segments are by their first token (-1: none).
	LastClosed int64 `json:"lastClosed"`
	// Files are the copied files, relative paths (the active segment among them).
	Files []string `json:"files"`
}

// Step is one step of the procedure and when it ran.
type Step struct {
	Name     string    `json:"name"`
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
	Files    int       `json:"files"`
	Bytes    int64     `json:"bytes"`
}

// File is one copied file.
type File struct {
	Path   string `json:"path"`
	Size   int64  `json:"size"`
	SHA256 string `json:"sha256"`
}

// Window is how long after the Control DB export the other files may be copied
// (AxonIQ's backup procedure: within 30 minutes).
const Window = 30 * time.Minute

// PastWindow says how long after the Control DB export (zero: not yet exported)
// step s ended, and whether that is past the Window: the backup is then incomplete.
func (s Step) PastWindow(exported time.Time) (time.Duration, bool) {
	if exported.IsZero() || s.Finished.IsZero() {
		return 0, false
	}
	d := s.Finished.Sub(exported)
	return d, d > Window
}

// Bytes is the sum of the files' sizes.
func (m *Manifest) Bytes() int64 {
	var n int64
	for _, f := range m.Files {
		n += f.Size
	}
	return n
}

// Write writes the manifest into dir (through a temporary file, so a reader never
// sees half of one).
func (m *Manifest) Write(dir string) error {
	sort.Slice(m.Files, func(i, j int) bool { return m.Files[i].Path < m.Files[j].Path })
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, ManifestFile+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, ManifestFile))
}

// Read reads dir's manifest.
func Read(dir string) (*Manifest, error) {
	b, err := os.ReadFile(filepath.Join(dir, ManifestFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("%s is not a kubectl axon backup: no %s", dir, ManifestFile)
		}
		return nil, err
	}
	var m Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("%s: %s is not valid: %v", dir, ManifestFile, err)
	}
	if m.Format != Format {
		return nil, fmt.Errorf("%s: manifest format %d, this kubectl axon reads %d", dir, m.Format, Format)
	}
	return &m, nil
}

// Hasher computes a file's size and SHA-256 while it is written.
type Hasher struct {
	h io.Writer
	s interface{ Sum([]byte) []byte }
	n int64
}

// NewHasher starts a hash.
func NewHasher() *Hasher {
	h := sha256.New()
	return &Hasher{h: h, s: h}
}

func (x *Hasher) Write(p []byte) (int, error) {
	x.n += int64(len(p))
	return x.h.Write(p)
}

// File is the hashed file, named path.
func (x *Hasher) File(path string) File {
	return File{Path: path, Size: x.n, SHA256: hex.EncodeToString(x.s.Sum(nil))}
}

// segmentOf parses a segment file name: the 20-digit first token and the extension.
func segmentOf(name string) (int64, string, bool) {
	base := path.Base(name)
	i := strings.IndexByte(base, '.')
	if i != 20 {
		return 0, "", false
	}
	n, err := strconv.ParseInt(base[:i], 10, 64)
	return n, base[i:], err == nil
}

// dataExt is the data file of each type; indexExt the companion a closed segment has.
var (
	dataExt  = map[string]string{"EVENT": ".events", "SNAPSHOT": ".snapshots"}
	indexExt = map[string]string{"EVENT": ".index", "SNAPSHOT": ".sindex"}
)

// Verify re-checks a backup directory: every file of the manifest is there with its
// size and SHA-256; the Control DB zip reads (every entry, with its CRC); per context
// and type the segments are continuous as their names say (every closed segment
// after the previous backup's last one up to this one's last, each with its index,
// the active one after them); and an incremental backup continues the backup it
// names when that directory is at hand. It returns every problem found.
func Verify(dir string) (*Manifest, []string, error) {
	m, err := Read(dir)
	if err != nil {
		return nil, nil, err
	}
	var problems []string
	bad := func(f string, a ...any) { problems = append(problems, fmt.Sprintf(f, a...)) }
	have := map[string]bool{}
	for _, f := range m.Files {
		have[f.Path] = true
		got, err := hashFile(filepath.Join(dir, filepath.FromSlash(f.Path)))
		switch {
		case err != nil:
			bad("%s: %v", f.Path, err)
		case got.Size != f.Size:
			bad("%s: %d bytes, the manifest says %d", f.Path, got.Size, f.Size)
		case got.SHA256 != f.SHA256:
			bad("%s: checksum differs from the manifest's", f.Path)
		}
	}
	if !m.Complete {
		bad("the backup is incomplete: %s", m.Incomplete)
	}
	if m.ControlDB == "" {
		bad("no Control DB zip")
	} else if _, err := ZipEntries(filepath.Join(dir, filepath.FromSlash(m.ControlDB))); err != nil {
		bad("%s: %v", m.ControlDB, err)
	}
	for _, c := range slices.Sorted(maps.Keys(m.Contexts)) {
		for _, typ := range slices.Sorted(maps.Keys(m.Contexts[c])) {
			for _, p := range continuity(m.Contexts[c][typ], typ, have) {
				bad("%s %s: %s", c, typ, p)
			}
		}
	}
	if m.Since != nil && m.Since.Dir != "" {
		if prev, err := Read(m.Since.Dir); err == nil {
			for _, p := range Continues(prev, m) {
				bad("%s", p)
			}
		}
	}
	return m, problems, nil
}

// continuity checks one context's segments of one type.
func continuity(s *Segments, typ string, have map[string]bool) []string {
	var out []string
	closed := map[int64]bool{}
	var active []int64
	for _, f := range s.Files {
		if !have[f] {
			out = append(out, f+" is listed but not among the files")
		}
		n, ext, ok := segmentOf(f)
		if !ok || ext != dataExt[typ] {
			continue
		}
		if n <= s.After {
			out = append(out, fmt.Sprintf("%s is not after the previous backup's last closed segment %d", f, s.After))
		}
		if n > s.LastClosed {
			active = append(active, n)
			continue
		}
		closed[n] = true
		idx := strings.TrimSuffix(f, dataExt[typ]) + indexExt[typ]
		if !slices.Contains(s.Files, idx) {
			out = append(out, fmt.Sprintf("closed segment %s has no %s", path.Base(f), indexExt[typ]))
		}
	}
	if s.LastClosed > s.After && !closed[s.LastClosed] {
		out = append(out, fmt.Sprintf("the last closed segment %020d is missing", s.LastClosed))
	}
	if len(active) > 1 {
		out = append(out, fmt.Sprintf("%d active segments", len(active)))
	}
	return out
}

// Continues checks that next continues prev: the same cluster, and per context and
// type next's copy starts after prev's last closed segment.
func Continues(prev, next *Manifest) []string {
	var out []string
	if prev.Cluster != next.Cluster || prev.Namespace != next.Namespace {
		out = append(out, fmt.Sprintf("the previous backup is of cluster %s/%s, this one of %s/%s", prev.Namespace, prev.Cluster, next.Namespace, next.Cluster))
		return out
	}
	for c, types := range next.Contexts {
		for typ, s := range types {
			want := int64(-1)
			if p := prev.Contexts[c][typ]; p != nil {
				want = p.LastClosed
			}
			if s.After != want {
				out = append(out, fmt.Sprintf("%s %s: copied after segment %d, but the previous backup ends with %d", c, typ, s.After, want))
			}
		}
	}
	return out
}

func hashFile(p string) (File, error) {
	f, err := os.Open(p)
	if err != nil {
		return File{}, err
	}
	defer f.Close()
	h := NewHasher()
	if _, err := io.Copy(h, f); err != nil {
		return File{}, err
	}
	return h.File(p), nil
}

// ZipEntries reads every entry of a zip (each checked against its CRC as it is
// read) and returns the files' contents by name. An empty zip is an error.
func ZipEntries(p string) (map[string][]byte, error) {
	r, err := zip.OpenReader(p)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	if len(r.File) == 0 {
		return nil, fmt.Errorf("the zip is empty")
	}
	out := map[string][]byte{}
	for _, f := range r.File {
		rc, err := f.Open()
		if err != nil {
			return nil, err
		}
		b, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return nil, fmt.Errorf("%s: %v", f.Name, err)
		}
		if !f.FileInfo().IsDir() {
			out[f.Name] = b
		}
	}
	return out, nil
}

// NewClosedSegments counts, per context and type, the closed segments a backup copied.
func (m *Manifest) NewClosedSegments() int {
	n := 0
	for _, types := range m.Contexts {
		for typ, s := range types {
			for _, f := range s.Files {
				if seg, ext, ok := segmentOf(f); ok && ext == dataExt[typ] && seg <= s.LastClosed {
					n++
				}
			}
		}
	}
	return n
}

// Size words a byte count for people: 512 B, 3.2 KiB, 41.0 MiB, 2.1 GiB.
func Size(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/unit, 0
	for v >= unit && i < 3 {
		v /= unit
		i++
	}
	return fmt.Sprintf("%.1f %ciB", v, "KMGT"[i])
}
