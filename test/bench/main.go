// Command bench measures kubectl axon on the Kubernetes sandbox and writes
// docs/benchmarks.md (and its SVG plots): status against `kubectl get`, API
// server requests and memory per call; rolling upgrade and replace-node --all
// against a plain runbook script; leader elections from the audit log; backup
// and restore throughput against a plain `kubectl exec tar`.
//
//	go run ./test/bench                 # everything (make bench-sandbox)
//	go run ./test/bench -only status    # one section; -quick for a smoke run
//	go run ./test/bench -gen            # regenerate examples/topologies/bench-*.yaml
//
// It needs root (the sandbox) and the binaries of `make build sandbox-bins
// axon-sandbox`. Every sandbox is torn down on return, on failure and on
// SIGINT/SIGTERM; the whole run is bounded by -limit.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/kubectl-axon/kubectl-axon/test/bench/harness"
)

type options struct {
	only    string
	quick   bool
	reps    int
	out     string
	jsonOut string
}

func main() {
	var o options
	gen := flag.Bool("gen", false, "regenerate examples/topologies/bench-*.yaml and exit")
	bin := flag.String("bin", "", "directory of the binaries (default REPO/bin)")
	limit := flag.Duration("limit", 45*time.Minute, "tear down and give up after this long")
	flag.StringVar(&o.only, "only", "", "status, rolling or backup (default all)")
	flag.BoolVar(&o.quick, "quick", false, "smoke run: 3 nodes only, 3 repetitions")
	flag.IntVar(&o.reps, "reps", 7, "status calls per configuration (the median is reported)")
	flag.StringVar(&o.out, "out", "docs/benchmarks.md", "the report (relative to the repository)")
	flag.StringVar(&o.jsonOut, "json", "", "also write the raw figures as JSON here")
	flag.Parse()

	env, err := harness.NewEnv(*bin)
	if *gen {
		repo, _ := os.Getwd()
		if env != nil {
			repo = env.Repo
		}
		if err := generateTopologies(repo); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "bench: the sandbox needs root (network namespaces, veth)")
		os.Exit(1)
	}
	if o.quick {
		statusNodes, statusContexts, rollingNodes = []int{3}, []int{10, 1000}, []int{3}
		if o.reps > 3 {
			o.reps = 3
		}
	}
	harness.HandleSignals(*limit)
	code := run(env, o)
	harness.DownAll()
	os.Exit(code)
}

func run(env *harness.Env, o options) int {
	start := time.Now()
	rep := &report{Machine: machine(env), Started: start, Quick: o.quick, Reps: o.reps}
	if o.only == "" || o.only == "status" {
		for _, n := range statusNodes {
			for _, c := range statusContexts {
				r, err := benchStatus(env, n, c, o.reps)
				if err != nil {
					fmt.Fprintf(os.Stderr, "bench: status %d nodes %d contexts: %v\n", n, c, err)
					return 1
				}
				rep.Status = append(rep.Status, r)
			}
		}
	}
	if o.only == "" || o.only == "rolling" {
		for _, n := range rollingNodes {
			rs, err := benchRolling(env, n)
			rep.Rolling = append(rep.Rolling, rs...)
			if err != nil {
				fmt.Fprintf(os.Stderr, "bench: rolling %d nodes: %v\n", n, err)
				return 1
			}
		}
	}
	if o.only == "" || o.only == "backup" {
		sz := backupFull
		if o.quick {
			sz = backupQuick
		}
		b, err := benchBackup(env, sz, o.quick)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: backup: %v\n", err)
			return 1
		}
		rep.Backup = b
	}
	rep.Elapsed = time.Since(start)
	rep.Partial = o.only != ""
	out := o.out
	if !filepath.IsAbs(out) {
		out = filepath.Join(env.Repo, out)
	}
	if err := rep.write(out, o.jsonOut); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	fmt.Fprintf(os.Stderr, "bench: wrote %s in %s\n", out, rep.Elapsed.Round(time.Second))
	return 0
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s bench: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func machine(env *harness.Env) map[string]string {
	m := map[string]string{}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		n := 0
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") && m["cpu"] == "" {
				_, v, _ := strings.Cut(l, ":")
				m["cpu"] = strings.TrimSpace(v)
			}
			if strings.HasPrefix(l, "processor") {
				n++
			}
		}
		m["cores"] = fmt.Sprint(n)
	}
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "MemTotal:") {
				var kb int64
				fmt.Sscanf(strings.TrimPrefix(l, "MemTotal:"), "%d", &kb)
				m["memory"] = fmt.Sprintf("%.1f GiB", float64(kb)/1024/1024)
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m["kernel"] = "Linux " + strings.TrimSpace(string(b))
	}
	r := harness.Run("", 20*time.Second, "kubectl", "axon", "version")
	m["kubectl axon"] = strings.TrimSpace(strings.Split(r.Stdout, "\n")[0])
	r = harness.Run("", 20*time.Second, "kubectl", "version", "--client")
	m["kubectl"] = strings.TrimSpace(strings.Split(r.Stdout, "\n")[0])
	r = harness.Run("", 20*time.Second, "git", "-C", env.Repo, "rev-parse", "--short", "HEAD")
	m["commit"] = strings.TrimSpace(r.Stdout)
	if r := harness.Run("", 5*time.Second, "sh", "-c", "ls -d /run/netns/axsb-* 2>/dev/null | wc -l"); r.Code == 0 {
		m["other sandboxes at start"] = fmt.Sprint(strings.TrimSpace(r.Stdout))
	}
	return m
}
