// Command axonsim runs a simulated Axon Server EE cluster on loopback until SIGINT/SIGTERM.
//
//	axonsim --topology FILE --audit FILE [--listen-base 127.0.0.1] [--ca-out FILE]
package main

import (
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/axonsim"
)

func main() {
	topoPath := flag.String("topology", "", "topology YAML file (required)")
	auditPath := flag.String("audit", "", "audit log file, one JSON event per line (required)")
	listenBase := flag.String("listen-base", "127.0.0.1", "first loopback address; node i listens on base+i:8024 (or on distinct ports of base when those addresses are unusable)")
	caOut := flag.String("ca-out", "", "write the cluster CA certificate (PEM) here when the topology uses TLS")
	dataDir := flag.String("data", "", "parent directory for the nodes' data (default: a temporary directory)")
	verbose := flag.Bool("v", false, "log every event to stderr")
	segmentBytes := flag.Int("segment-bytes", 0, "segments of the nodes' event stores and replication logs close at this size (0: the topology's storage.segmentBytes, else $"+axonsim.SegmentBytesEnv+", else 8192)")
	flag.Parse()
	if *topoPath == "" || *auditPath == "" {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*topoPath, *auditPath, *listenBase, *caOut, *dataDir, *verbose, *segmentBytes); err != nil {
		fmt.Fprintln(os.Stderr, "axonsim:", err)
		os.Exit(1)
	}
}

func run(topoPath, auditPath, listenBase, caOut, dataDir string, verbose bool, segmentBytes int) error {
	topo, err := axonsim.LoadTopology(topoPath)
	if err != nil {
		return err
	}
	audit, err := os.OpenFile(auditPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer audit.Close()
	opts := axonsim.Options{Audit: audit, Seed: time.Now().UnixNano(), SegmentBytes: segmentBytes}
	if verbose {
		opts.Logf = func(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
	}
	cluster, err := axonsim.NewCluster(topo, opts)
	if err != nil {
		return err
	}
	defer cluster.Close()
	if caOut != "" {
		if pem := cluster.CACertPEM(); pem != nil {
			if err := os.WriteFile(caOut, pem, 0o644); err != nil {
				return err
			}
		}
	}
	listens, err := listenAddrs(listenBase, len(topo.Nodes))
	if err != nil {
		return err
	}
	scheme := "http"
	if topo.TLS {
		scheme = "https"
	}
	for i, name := range topo.NodeNames() {
		cfg := axonsim.NodeConfig{Listen: listens[i]}
		if dataDir != "" {
			cfg.DataDir = dataDir + "/" + name
		}
		if _, err := cluster.StartNode(name, cfg); err != nil {
			return err
		}
		fmt.Printf("%s %s://%s\n", name, scheme, listens[i])
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGINT, syscall.SIGTERM)
	<-sig
	fmt.Fprintln(os.Stderr, "axonsim: stopping nodes")
	var wg sync.WaitGroup
	for _, name := range topo.NodeNames() {
		wg.Add(1)
		go func(name string) {
			defer wg.Done()
			_ = cluster.StopNode(name, 120*time.Second)
		}(name)
	}
	wg.Wait()
	return nil
}

// listenAddrs gives node i the address base+i with port 8024 when such loopback addresses
// can be bound (Linux routes all of 127.0.0.0/8 to lo), else distinct free ports on base.
func listenAddrs(base string, n int) ([]string, error) {
	ip := net.ParseIP(base).To4()
	if ip == nil {
		return nil, fmt.Errorf("--listen-base %q: not an IPv4 address", base)
	}
	out := make([]string, n)
	perIP := true
	for i := 0; i < n; i++ {
		a := net.IPv4(ip[0], ip[1], ip[2], ip[3]+byte(i)).String()
		out[i] = net.JoinHostPort(a, "8024")
		ln, err := net.Listen("tcp", out[i])
		if err != nil {
			perIP = false
			break
		}
		ln.Close()
	}
	if perIP {
		return out, nil
	}
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", net.JoinHostPort(base, "0"))
		if err != nil {
			return nil, err
		}
		out[i] = ln.Addr().String()
		defer ln.Close()
	}
	fmt.Fprintln(os.Stderr, "axonsim: per-node loopback addresses unusable; using distinct ports on", base)
	return out, nil
}
