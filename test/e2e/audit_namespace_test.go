//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

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

// RunInput is Run with stdin (kubectl exec -i ... tar -x).
func (s *Sandbox) RunInput(kubeconfig string, stdin []byte, args ...string) Result {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	cmd.Stdin = bytes.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := Result{Args: args, Stdout: stdout.String(), Stderr: stderr.String()}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		s.t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	return r
}
