package cmd

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-axon/kubectl-axon/pkg/version"
)

// VersionOptions prints the plugin's version; it needs no cluster.
type VersionOptions struct {
	genericiooptions.IOStreams
	Output string
}

// NewCmdVersion returns `kubectl axon version`.
func NewCmdVersion(streams genericiooptions.IOStreams) *cobra.Command {
	o := &VersionOptions{IOStreams: streams}
	c := &cobra.Command{
		Use:     "version",
		Short:   "Print the plugin's version (needs no cluster)",
		Example: "  kubectl axon version\n  kubectl axon version -o json",
		Args:    usageArgs(cobra.NoArgs),
		RunE: func(_ *cobra.Command, _ []string) error {
			if err := o.Validate(); err != nil {
				return err
			}
			return o.Run()
		},
	}
	c.Flags().StringVarP(&o.Output, "output", "o", "", "output format: json or yaml")
	return c
}

// Validate checks the output format.
func (o *VersionOptions) Validate() error {
	return checkDataOutput(o.Output)
}

// Run prints the version.
func (o *VersionOptions) Run() error {
	v := version.Get()
	switch o.Output {
	case "json":
		b, _ := json.MarshalIndent(v, "", "  ")
		fmt.Fprintln(o.Out, string(b))
	case "yaml":
		b, _ := yaml.Marshal(v)
		fmt.Fprint(o.Out, string(b))
	default:
		fmt.Fprintf(o.Out, "kubectl-axon %s (commit %s, %s, %s)\n", v.Version, v.Commit, v.GoVersion, v.Platform)
	}
	return nil
}
