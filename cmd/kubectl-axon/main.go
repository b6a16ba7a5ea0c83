// Command kubectl-axon is the kubectl plugin for day-2 operations on Axon Server
// Enterprise clusters in Kubernetes: installed on PATH, it runs as `kubectl axon`.
package main

import (
	"os"

	"k8s.io/cli-runtime/pkg/genericiooptions"
	_ "k8s.io/client-go/plugin/pkg/client/auth" // cloud providers' kubeconfig auth

	"github.com/kubectl-axon/kubectl-axon/pkg/cmd"
)

func main() {
	streams := genericiooptions.IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr}
	os.Exit(cmd.Execute(streams, os.Args[1:]))
}
