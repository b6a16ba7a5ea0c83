// Command kubectl-axon is the kubectl plugin for day-2 operations on Axon Server
// Enterprise clusters in Kubernetes: installed on PATH, it runs as `kubectl axon`.
package main

import (
	"flag"
	"io"
	"os"
	"runtime/debug"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud providers' kubeconfig auth
	"k8s.io/klog/v2"

	"github.com/kubectl-axon/kubectl-axon/pkg/cmd"
)

// klogEnv names the environment variable that lets client-go's own log (klog) through
// to stderr, at that verbosity: KUBECTL_AXON_KLOG=6 shows every API request.
const klogEnv = "KUBECTL_AXON_KLOG"

// gcPercent is the collector's target unless $GOGC sets one: a run of the plugin
// allocates a few megabytes (status of 5,000 contexts about 10 MB) that its exit
// frees, and Go's default (100, from a 4 MB heap) collects several times on the way.
// At 400 a short run collects once or not at all; a long one (a rolling upgrade)
// still keeps its heap within five times what it holds.
const gcPercent = 400

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	setupKlog(os.Getenv(klogEnv), os.Stderr)
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cmd.Execute(streams, os.Args[1:]))
}

// setupKlog keeps client-go's log off stderr unless level is set: its informers and
// retries report an API server that is restarting with a line per attempt, which the
// plugin already reports in its own words (waiting, and why).
func setupKlog(level string, stderr io.Writer) {
	fs := flag.NewFlagSet("klog", flag.ContinueOnError)
	klog.InitFlags(fs)
	_ = fs.Set("logtostderr", "false")
	_ = fs.Set("alsologtostderr", "false")
	_ = fs.Set("stderrthreshold", "FATAL")
	if level == "" {
		klog.SetOutput(io.Discard)
		return
	}
	_ = fs.Set("v", level)
	klog.SetOutput(stderr)
}
