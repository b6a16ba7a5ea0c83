package sandbox

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Restart stops one of the sandbox's processes (etcd, kube-apiserver,
// kube-controller-manager, kube-scheduler, agent) by pid and starts it again
// with the same arguments, as a machine or container restart would; for the
// API server it waits until /readyz answers ok again.
func Restart(ctx context.Context, s *State, name string, log io.Writer) error {
	return RestartAfter(ctx, s, name, 0, log)
}

// RestartAfter is Restart with the process kept down for the given time
// between its stop and its start (a control-plane node rebooting).
func RestartAfter(ctx context.Context, s *State, name string, down time.Duration, log io.Writer) error {
	idx := -1
	for i, p := range s.Processes {
		if p.Name == name {
			idx = i
		}
	}
	if idx < 0 {
		var names []string
		for _, p := range s.Processes {
			names = append(names, p.Name)
		}
		return fmt.Errorf("no process %q in this sandbox (have %s)", name, strings.Join(names, ", "))
	}
	old := s.Processes[idx]
	grace := 10 * time.Second
	if name == "agent" {
		grace = 30 * time.Second
	}
	if log != nil {
		fmt.Fprintf(log, "axon-sandbox: stopping %s (pid %d)\n", name, old.Pid)
	}
	if err := old.stop(grace); err != nil {
		return err
	}
	if down > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(down):
		}
	}
	p, err := s.startInNS(name, old.Args[0], old.Args[1:]...)
	if err != nil {
		return err
	}
	// keep the order of start (down stops in reverse)
	s.Processes = s.Processes[:len(s.Processes)-1]
	s.Processes[idx] = *p
	if err := s.save(); err != nil {
		return err
	}
	if log != nil {
		fmt.Fprintf(log, "axon-sandbox: started %s (pid %d)\n", name, p.Pid)
	}
	if name != "kube-apiserver" {
		return nil
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", s.Path("kubeconfig"))
	if err != nil {
		return err
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		body, err := cs.Discovery().RESTClient().Get().AbsPath("/readyz").DoRaw(ctx)
		if err == nil && strings.TrimSpace(string(body)) == "ok" {
			return nil
		}
		if !p.alive() {
			return fmt.Errorf("kube-apiserver exited:\n%s", tail(p.Log, 20))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready after restart: %v", err)
		case <-time.After(250 * time.Millisecond):
		}
	}
}
