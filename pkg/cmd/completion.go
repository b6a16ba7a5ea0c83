package cmd

import (
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
)

// pluginCompletionHelper is the kubectl_complete-axon script: kubectl 1.26+ runs it to
// complete `kubectl axon ...` arguments.
const pluginCompletionHelper = `#!/usr/bin/env sh
# Completion of 'kubectl axon ...' for kubectl 1.26+: put this file on PATH as
# kubectl_complete-axon (executable). kubectl runs it with the words to complete.
exec kubectl axon __complete "$@"
`

// NewCmdCompletion returns `kubectl axon completion`.
func NewCmdCompletion(streams genericiooptions.IOStreams) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell|kubectl-plugin",
		Short: "Print a shell completion script, or the kubectl_complete-axon helper",
		Long: `Print a completion script for the shell, or (kubectl-plugin) the kubectl_complete-axon
helper that makes 'kubectl axon <TAB>' complete in kubectl's own completion (kubectl 1.26+).`,
		Example: `  # Complete 'kubectl axon ...' inside kubectl's completion
  kubectl axon completion kubectl-plugin > ~/.local/bin/kubectl_complete-axon
  chmod +x ~/.local/bin/kubectl_complete-axon

  # Complete 'kubectl-axon ...' in bash
  source <(kubectl axon completion bash)`,
		ValidArgs: []string{"bash", "zsh", "fish", "powershell", "kubectl-plugin"},
		Args:      usageArgs(cobra.MatchAll(cobra.ExactArgs(1), cobra.OnlyValidArgs)),
		RunE: func(c *cobra.Command, args []string) error {
			root := c.Root()
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(streams.Out, true)
			case "zsh":
				return root.GenZshCompletion(streams.Out)
			case "fish":
				return root.GenFishCompletion(streams.Out, true)
			case "powershell":
				return root.GenPowerShellCompletionWithDesc(streams.Out)
			case "kubectl-plugin":
				_, err := fmt.Fprint(streams.Out, pluginCompletionHelper)
				return err
			}
			return cli.Usagef("unknown shell %q", args[0])
		},
	}
}
