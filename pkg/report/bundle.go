// Package report writes kubectl axon report's bundle: one zip with what support asks
// for first (the cluster's Kubernetes objects, its pods' logs, every node's REST
// answers and Axon Server's own diagnostics, kubectl axon's views), a README.txt index
// and a manifest.json saying of each item whether it was collected, skipped or failed.
// One failed item never stops the rest. Secrets stay out: Secret values are never
// read into it, the values of secret-looking keys are masked (Redactor) and the access
// token kubectl axon uses is removed wherever it appears.
package report

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// Item statuses in the manifest.
const (
	Collected = "collected"
	Skipped   = "skipped"
	Failed    = "failed"
)

// Item is one entry of the manifest.
type Item struct {
	Path   string `json:"path"`
	What   string `json:"what"`
	Status string `json:"status"`
	Size   int    `json:"size"`
	// Reason says why an item was skipped or failed.
	Reason string `json:"reason,omitempty"`
	// Truncated: the item was cut at its size limit (logs keep their newest bytes).
	Truncated bool `json:"truncated,omitempty"`
}

// Manifest is manifest.json.
type Manifest struct {
	Kind      string    `json:"kind"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"createdAt"`
	Plugin    string    `json:"plugin"`
	Namespace string    `json:"namespace"`
	Cluster   string    `json:"cluster"`
	Redacted  bool      `json:"redacted"`
	// Complete: no item failed.
	Complete bool   `json:"complete"`
	Items    []Item `json:"items"`
}

// Bundle is the zip being written.
type Bundle struct {
	zw       *zip.Writer
	redact   *Redactor
	Manifest Manifest
	err      error // the first write error: the file itself failed
}

// NewBundle starts a bundle on w.
func NewBundle(w io.Writer, r *Redactor, m Manifest) *Bundle {
	m.Kind, m.Version, m.Redacted = "AxonReport", 1, !r.Off
	m.Items = []Item{}
	return &Bundle{zw: zip.NewWriter(w), redact: r, Manifest: m}
}

// Err is the first error writing the zip itself (not an item's failure).
func (b *Bundle) Err() error { return b.err }

// Add runs collect and writes what it returns at path, stripped of the known secret
// values (collect masks by key itself, where keys exist). A collect error is recorded
// as the item's failure; an ErrSkip as its skip. Nothing stops the next item.
func (b *Bundle) Add(path, what string, collect func() ([]byte, error)) {
	b.AddItem(path, what, func() ([]byte, bool, error) {
		data, err := collect()
		return data, false, err
	})
}

// SkipError marks an item that was not collected on purpose (not applicable, not
// allowed where that is documented as optional).
type SkipError struct{ Reason string }

func (e *SkipError) Error() string { return e.Reason }

// Skip is a SkipError.
func Skip(format string, args ...any) error { return &SkipError{Reason: fmt.Sprintf(format, args...)} }

// AddItem is Add for a collector that may cut its data (truncated).
func (b *Bundle) AddItem(path, what string, collect func() ([]byte, bool, error)) {
	it := Item{Path: path, What: what}
	data, truncated, err := safely(collect)
	var skip *SkipError
	switch {
	case err != nil && asSkip(err, &skip):
		it.Status, it.Reason = Skipped, b.redact.String(skip.Reason)
	case err != nil:
		it.Status, it.Reason = Failed, b.redact.String(oneLine(err.Error()))
	default:
		data = b.redact.Bytes(data)
		it.Status, it.Size, it.Truncated = Collected, len(data), truncated
		if werr := b.write(path, data); werr != nil {
			it.Status, it.Size, it.Reason = Failed, 0, "writing the zip: "+werr.Error()
		}
	}
	b.Manifest.Items = append(b.Manifest.Items, it)
}

// Record adds an item that was not collected, with why (status Skipped or Failed).
func (b *Bundle) Record(path, what, status, reason string) {
	b.Manifest.Items = append(b.Manifest.Items, Item{Path: path, What: what, Status: status, Reason: b.redact.String(reason)})
}

func asSkip(err error, skip **SkipError) bool {
	s, ok := err.(*SkipError)
	if ok {
		*skip = s
	}
	return ok
}

// safely runs collect, turning a panic into the item's failure.
func safely(collect func() ([]byte, bool, error)) (data []byte, truncated bool, err error) {
	defer func() {
		if p := recover(); p != nil {
			data, truncated, err = nil, false, fmt.Errorf("internal error: %v", p)
		}
	}()
	return collect()
}

func (b *Bundle) write(path string, data []byte) error {
	if b.err != nil {
		return b.err
	}
	f, err := b.zw.CreateHeader(&zip.FileHeader{Name: path, Method: zip.Deflate, Modified: b.Manifest.CreatedAt})
	if err == nil {
		_, err = f.Write(data)
	}
	if err != nil {
		b.err = err
	}
	return err
}

// Close writes errors.txt, manifest.json and README.txt and finishes the zip.
func (b *Bundle) Close() error {
	m := &b.Manifest
	m.Complete = true
	var errs strings.Builder
	for _, it := range m.Items {
		if it.Status == Failed {
			m.Complete = false
			fmt.Fprintf(&errs, "%s: %s\n", it.Path, it.Reason)
		}
	}
	if errs.Len() > 0 {
		_ = b.write("errors.txt", b.redact.Bytes([]byte(errs.String())))
	}
	mb, _ := json.MarshalIndent(m, "", "  ")
	_ = b.write("manifest.json", b.redact.Bytes(append(mb, '\n')))
	_ = b.write("README.txt", b.redact.Bytes([]byte(b.readme())))
	if err := b.zw.Close(); err != nil && b.err == nil {
		b.err = err
	}
	return b.err
}

// Counts are how many items have each status.
func (b *Bundle) Counts() map[string]int {
	n := map[string]int{Collected: 0, Skipped: 0, Failed: 0}
	for _, it := range b.Manifest.Items {
		n[it.Status]++
	}
	return n
}

func (b *Bundle) readme() string {
	m := b.Manifest
	var s strings.Builder
	fmt.Fprintf(&s, "kubectl axon report of Axon Server cluster %s in namespace %s\n", m.Cluster, m.Namespace)
	fmt.Fprintf(&s, "created %s by %s\n\n", m.CreatedAt.UTC().Format(time.RFC3339), m.Plugin)
	n := b.Counts()
	fmt.Fprintf(&s, "%d items collected, %d skipped, %d failed", n[Collected], n[Skipped], n[Failed])
	if !m.Complete {
		s.WriteString(" (incomplete: see errors.txt)")
	}
	s.WriteString("\n\n")
	s.WriteString(`What it holds (manifest.json says, per item, collected, skipped or failed, and its size):
  kubernetes/   the cluster's StatefulSets, pods, PVCs, PVs, Services, PDBs, the namespace's
                Events, the workers the pods run on, ConfigMaps (values of secret-looking keys
                masked), Secrets as names and keys only
  logs/         each Axon Server pod's containers' logs, and the previous container's where it
                restarted (newest bytes kept up to --logs-limit, from --logs-since)
  axon/NODE/    each node's REST answers: actuator info, health and env (masked), /v1/public/me,
                /v1/public, /v1/cluster, replication groups, contexts, /internal/raft/status,
                /v1/tasks, /v1/public/license (details, never the license), and Axon Server's
                own diagnostics (diagnostics.zip, nested, size-capped)
  kubectl-axon/ kubectl axon's own views: status, doctor and config, as JSON
  errors.txt    the items that failed, one per line

What it never holds: Secret values, the access token kubectl axon uses (removed wherever
it appears), the license file.`)
	if !m.Redacted {
		s.WriteString("\n\nTaken with --no-redact: values of secret-looking keys in ConfigMaps and /actuator/env\nwere NOT masked (Secret values and the access token are still never included).")
	}
	s.WriteString("\n\nIndex:\n")
	items := append([]Item(nil), m.Items...)
	sort.SliceStable(items, func(i, j int) bool { return items[i].Path < items[j].Path })
	for _, it := range items {
		line := fmt.Sprintf("  %-9s %-48s %s", it.Status, it.Path, it.What)
		if it.Status == Collected {
			line += fmt.Sprintf(" (%d bytes", it.Size)
			if it.Truncated {
				line += ", truncated"
			}
			line += ")"
		} else if it.Reason != "" {
			line += ": " + it.Reason
		}
		s.WriteString(line + "\n")
	}
	return s.String()
}

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// Tail keeps the last limit bytes of r (all of it when limit <= 0), starting at a line
// boundary when it cut; truncated says it did.
func Tail(r io.Reader, limit int64) ([]byte, bool, error) {
	if limit <= 0 {
		b, err := io.ReadAll(r)
		return b, false, err
	}
	var ring []byte
	truncated := false
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		ring = append(ring, buf[:n]...)
		if int64(len(ring)) > 2*limit {
			ring = append(ring[:0:0], ring[int64(len(ring))-limit:]...)
			truncated = true
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, truncated, err
		}
	}
	if int64(len(ring)) > limit {
		ring = ring[int64(len(ring))-limit:]
		truncated = true
	}
	if truncated {
		if i := bytes.IndexByte(ring, '\n'); i >= 0 && i < len(ring)-1 {
			ring = ring[i+1:]
		}
	}
	return ring, truncated, nil
}

// RedactZip rewrites a nested zip (Axon Server's diagnostics) with the known values
// removed from every entry; a body that is not a zip is returned stripped as it is.
func RedactZip(r *Redactor, body []byte) []byte {
	zr, err := zip.NewReader(bytes.NewReader(body), int64(len(body)))
	if err != nil {
		return r.Bytes(body)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		rc, err := f.Open()
		if err != nil {
			continue
		}
		data, err := io.ReadAll(io.LimitReader(rc, 64<<20))
		rc.Close()
		if err != nil {
			continue
		}
		if strings.HasSuffix(f.Name, "env.json") {
			data = r.Env(data)
		}
		w, err := zw.CreateHeader(&zip.FileHeader{Name: f.Name, Method: zip.Deflate, Modified: f.Modified})
		if err != nil {
			continue
		}
		_, _ = w.Write(r.Bytes(data))
	}
	if zw.Close() != nil {
		return r.Bytes(body)
	}
	return out.Bytes()
}
