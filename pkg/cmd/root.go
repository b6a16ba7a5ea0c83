// Package cmd holds kubectl axon's commands, each built as kubectl builds its own: an
// Options struct with Complete, Validate and Run, flags from cli-runtime, and
// IOStreams injected so every command can be tested.
package cmd

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
)

// NewCmdAxon returns the root command, `kubectl axon`, talking to the cluster of the
// kubeconfig.
func NewCmdAxon(streams genericiooptions.IOStreams) *cobra.Command {
	return NewCmdAxonWith(streams, connect.Open)
}

// NewCmdAxonWith returns the root command with the given way to open clients.
func NewCmdAxonWith(streams genericiooptions.IOStreams, open connect.Opener) *cobra.Command {
	root := &cobra.Command{
		Use:   "kubectl-axon",
		Short: "Day-2 operations for Axon Server Enterprise clusters in Kubernetes",
		Long: `kubectl axon inspects an Axon Server cluster's replication groups over Axon Server's
REST API and steps through its singleton StatefulSets one at a time, never stopping a
node whose absence would cost a replication group its quorum.

Exit codes: 0 done; 1 error; 2 usage; 3 refused by a safety check (or status
--exit-code found the cluster unhealthy); 4 timed out waiting.`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Annotations:   map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl axon"},
	}
	root.SetIn(streams.In)
	root.SetOut(streams.Out)
	root.SetErr(streams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return cli.Usagef("%v (see '%s --help')", err, c.CommandPath())
	})
	root.AddCommand(
		NewCmdVersion(streams),
		NewCmdStatus(streams, open),
		NewCmdDoctor(streams, open),
		NewCmdLicense(streams, open),
		NewCmdConfig(streams, open),
		NewCmdReport(streams, open),
		NewCmdBackup(streams, open),
		NewCmdRestore(streams, open),
		NewCmdGenerate(streams),
		NewCmdUpgrade(streams, open),
		NewCmdReplaceNode(streams, open),
		NewCmdDrainNode(streams, open),
		NewCmdAddNode(streams, open),
		NewCmdRemoveNode(streams, open),
		NewCmdMoveMember(streams, open),
		NewCmdSetRole(streams, open),
		NewCmdCompletion(streams),
	)
	return root
}

// Execute runs the root command with args and returns the exit code, printing any
// error as one line on stderr.
func Execute(streams genericiooptions.IOStreams, args []string) int {
	return ExecuteWith(streams, connect.Open, args)
}

// ExecuteWith is Execute with the given way to open clients.
func ExecuteWith(streams genericiooptions.IOStreams, open connect.Opener, args []string) int {
	root := NewCmdAxonWith(streams, open)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil {
		return cli.ExitOK
	}
	code := cli.ExitCode(err)
	if code == cli.ExitError && isCobraUsage(err) {
		code = cli.ExitUsage
	}
	fmt.Fprintln(streams.ErrOut, "error: "+firstLine(err.Error()))
	return code
}

// isCobraUsage recognises the errors cobra itself returns for bad commands and args.
func isCobraUsage(err error) bool {
	msg := err.Error()
	for _, p := range []string{"unknown command", "unknown flag", "unknown shorthand", "accepts ", "requires at least", "requires at most", "invalid argument", "flag needs an argument"} {
		if strings.Contains(msg, p) {
			return true
		}
	}
	return false
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}

// usageArgs wraps a cobra.PositionalArgs so its errors are usage errors (exit 2).
func usageArgs(f cobra.PositionalArgs) cobra.PositionalArgs {
	return func(c *cobra.Command, args []string) error {
		if err := f(c, args); err != nil {
			return cli.Usagef("%v", err)
		}
		return nil
	}
}
