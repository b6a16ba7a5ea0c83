//go:build e2e

package e2e

import (
	"os"
	"path/filepath"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

// AuditOf returns the audit events of the Axon cluster the sandbox runs in namespace ns:
// the topology's namespace is the topology's cluster (as Audit), any other one the
// cluster the sandbox made for the Axon pods of that namespace (its events carry it).
func (s *Sandbox) AuditOf(ns string) []axonsim.Event {
	s.t.Helper()
	if ns == s.Namespace {
		return s.Audit()
	}
	f, err := os.Open(filepath.Join(s.Dir, "audit.jsonl"))
	if err != nil {
		s.t.Fatal(err)
	}
	defer f.Close()
	ev, err := axonsim.ReadAudit(f)
	if err != nil {
		s.t.Fatal(err)
	}
	return axonsim.InNamespace(ev, ns)
}

// StoreLoaded returns the store-loaded events of namespace ns's cluster by node and
// context: what each node started on restored files found in each store.
func (s *Sandbox) StoreLoaded(ns string) map[string]map[string]axonsim.Event {
	s.t.Helper()
	out := map[string]map[string]axonsim.Event{}
	for _, e := range axonsim.Filter(s.AuditOf(ns), axonsim.EvStoreLoaded, "", "") {
		if out[e.Node] == nil {
			out[e.Node] = map[string]axonsim.Event{}
		}
		out[e.Node][e.Context] = e
	}
	return out
}
