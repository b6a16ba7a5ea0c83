// Command axon-sandbox runs a real Kubernetes control plane (built from the Go
// module proxy) with simulated kubelets and Axon Server pods played by axonsim,
// inside a network namespace of its own.
//
//	axon-sandbox up   --topology FILE --dir DIR [--bin DIR] [--rbac FILE] [--timeout 5m] [--keep]
//	axon-sandbox down --dir DIR
//	axon-sandbox exec --dir DIR -- CMD [ARGS...]
//	axon-sandbox env  --dir DIR        (prints KUBECONFIG=..., API server, namespace)
//	axon-sandbox restart --dir DIR [--down 0s] PROCESS  (stop by pid, start with the same arguments)
//	axon-sandbox partition --dir DIR [--namespace NS] [--for 0s] NODE  (cut an Axon node off from the others; 0s: until heal)
//	axon-sandbox heal --dir DIR [--namespace NS] NODE                  (end its partition)
//	axon-sandbox log --dir DIR [--namespace NS] NODE TEXT              (write TEXT as a line of the node's log)
//	axon-sandbox supervise --name NAME -- CMD [ARGS...]  (started by up: runs CMD, restarts it when it exits)
//	axon-sandbox gc                    (removes network namespaces axsb-* in which nothing runs)
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/agent"
	"github.com/kubectl-axon/kubectl-axon/test/sandbox/internal/sandbox"
)

func usage() {
	fmt.Fprint(os.Stderr, `usage:
  axon-sandbox up   --topology FILE --dir DIR [--bin DIR] [--rbac FILE] [--timeout 5m] [--keep]
  axon-sandbox down --dir DIR
  axon-sandbox exec --dir DIR -- CMD [ARGS...]
  axon-sandbox env  --dir DIR
  axon-sandbox restart --dir DIR [--down 0s] etcd|kube-apiserver|kube-controller-manager|kube-scheduler|agent
  axon-sandbox partition --dir DIR [--namespace NS] [--for 0s] NODE   (cut Axon node NODE off from the others; 0s: until heal)
  axon-sandbox heal --dir DIR [--namespace NS] NODE
  axon-sandbox log --dir DIR [--namespace NS] NODE TEXT    (write TEXT as a line of Axon node NODE's log)
  (--namespace: the Axon cluster of another namespace; default the topology's)
  axon-sandbox gc                    (removes network namespaces axsb-* in which nothing runs)
`)
	os.Exit(2)
}

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	cmd, args := os.Args[1], os.Args[2:]
	fs := flag.NewFlagSet(cmd, flag.ExitOnError)
	dir := fs.String("dir", "", "sandbox directory (state, logs, kubeconfigs, volumes)")
	namespace := func() *string {
		return fs.String("namespace", "", "partition, heal, log: the Axon cluster of this namespace (default: the topology's)")
	}
	var err error
	switch cmd {
	case "up":
		topo := fs.String("topology", "", "axonsim topology file")
		bin := fs.String("bin", "", "directory with etcd, kube-apiserver, kube-controller-manager, kube-scheduler (default: next to axon-sandbox)")
		rbac := fs.String("rbac", "", "kubectl axon's docs/rbac.yaml (default: found above --bin or the working directory)")
		timeout := fs.Duration("timeout", 5*time.Minute, "give up when not healthy by then")
		keep := fs.Bool("keep", false, "leave a sandbox that failed to come up running, for inspection")
		_ = fs.Parse(args)
		if *topo == "" || *dir == "" {
			usage()
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = sandbox.Up(ctx, sandbox.UpOptions{Topology: *topo, Dir: *dir, BinDir: *bin, RBAC: *rbac,
			Timeout: *timeout, Keep: *keep, Log: os.Stderr})
	case "down":
		_ = fs.Parse(args)
		if *dir == "" {
			usage()
		}
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			err = sandbox.Down(s, os.Stderr)
		}
	case "exec":
		_ = fs.Parse(args)
		rest := fs.Args()
		if *dir == "" || len(rest) == 0 {
			usage()
		}
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			err = sandbox.Exec(s, rest)
		}
	case "env":
		_ = fs.Parse(args)
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			fmt.Printf("KUBECONFIG=%s\nAXON_SANDBOX_SERVER=%s\nAXON_SANDBOX_NAMESPACE=%s\nAXON_SANDBOX_NETNS=%s\nAXON_SANDBOX_CLUSTER=%s\n",
				s.Path("kubeconfig"), s.Server, s.Namespace, s.NetNS, s.Cluster)
		}
	case "restart":
		down := fs.Duration("down", 0, "how long the process stays down between stop and start")
		_ = fs.Parse(args)
		if *dir == "" || fs.NArg() != 1 {
			usage()
		}
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			err = sandbox.RestartAfter(context.Background(), s, fs.Arg(0), *down, os.Stderr)
		}
	case "partition", "heal":
		dur := fs.Duration("for", 0, "partition: how long until it heals by itself (0: until axon-sandbox heal)")
		ns := namespace()
		_ = fs.Parse(args)
		if *dir == "" || fs.NArg() != 1 {
			usage()
		}
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			if cmd == "partition" {
				err = sandbox.PartitionIn(context.Background(), s, *ns, fs.Arg(0), *dur)
			} else {
				err = sandbox.HealIn(context.Background(), s, *ns, fs.Arg(0))
			}
		}
	case "log":
		ns := namespace()
		_ = fs.Parse(args)
		if *dir == "" || fs.NArg() != 2 {
			usage()
		}
		var s *sandbox.State
		if s, err = sandbox.LoadState(*dir); err == nil {
			err = sandbox.LogIn(context.Background(), s, *ns, fs.Arg(0), fs.Arg(1))
		}
	case "supervise": // started by up, inside the network namespace
		name := fs.String("name", "", "the component's name (in the log)")
		_ = fs.Parse(args)
		if *name == "" || fs.NArg() == 0 {
			usage()
		}
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = sandbox.Supervise(ctx, *name, fs.Args(), os.Stderr)
	case "gc":
		_ = fs.Parse(args)
		err = sandbox.GC(func(f string, a ...any) { fmt.Fprintf(os.Stderr, "axon-sandbox: "+f+"\n", a...) })
	case "agent": // started by up, inside the network namespace
		_ = fs.Parse(args)
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		err = agent.Run(ctx, *dir)
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "axon-sandbox %s: %v\n", cmd, err)
		os.Exit(1)
	}
}
