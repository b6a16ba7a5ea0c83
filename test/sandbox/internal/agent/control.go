package agent

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
)

// serveControl serves the agent's control socket (sandbox.ControlSocket) until ctx ends: the
// runtime faults of the Axon nodes it runs (axon-sandbox partition / heal). A socket left by a
// previous agent is replaced.
func (a *Agent) serveControl(ctx context.Context) error {
	path := a.st.Path(sandbox.ControlSocket)
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		return fmt.Errorf("control socket: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /partition", a.controlPartition)
	mux.HandleFunc("POST /heal", a.controlHeal)
	mux.HandleFunc("POST /log", a.controlLog)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	go func() {
		<-ctx.Done()
		_ = srv.Close()
		_ = os.Remove(path)
	}()
	return nil
}

// Every request names an Axon node (?node=) of the cluster of ?namespace= (default: the
// topology's).

// controlCluster is the cluster a request names, or an answer saying there is none.
func (a *Agent) controlCluster(w http.ResponseWriter, r *http.Request) *axonsim.Cluster {
	c, err := a.simIn(r.URL.Query().Get("namespace"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
	}
	return c
}

// controlPartition cuts ?node= off from the other Axon nodes for ?for= (0: until healed).
func (a *Agent) controlPartition(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node")
	d, err := time.ParseDuration(r.URL.Query().Get("for"))
	if err != nil {
		http.Error(w, "for: "+err.Error(), http.StatusBadRequest)
		return
	}
	c := a.controlCluster(w, r)
	if c == nil {
		return
	}
	if err := c.Partition(node, d); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	a.logf("fault: Axon node %s%s cut off from the others for %s (0s: until healed)", node, inNamespace(r), d)
	w.WriteHeader(http.StatusOK)
}

// controlLog writes ?text= as a line of ?node='s log (the pod's log too).
func (a *Agent) controlLog(w http.ResponseWriter, r *http.Request) {
	c := a.controlCluster(w, r)
	if c == nil {
		return
	}
	if err := c.AppendLog(r.URL.Query().Get("node"), "INFO", r.URL.Query().Get("text")); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	w.WriteHeader(http.StatusOK)
}

// controlHeal ends ?node='s partition.
func (a *Agent) controlHeal(w http.ResponseWriter, r *http.Request) {
	node := r.URL.Query().Get("node")
	c := a.controlCluster(w, r)
	if c == nil {
		return
	}
	if err := c.Heal(node); err != nil {
		http.Error(w, err.Error(), http.StatusNotFound)
		return
	}
	a.logf("fault: partition of Axon node %s%s healed", node, inNamespace(r))
	w.WriteHeader(http.StatusOK)
}

func inNamespace(r *http.Request) string {
	if ns := r.URL.Query().Get("namespace"); ns != "" {
		return " (namespace " + ns + ")"
	}
	return ""
}
