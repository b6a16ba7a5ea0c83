package main
import (
 _ "github.com/spf13/cobra"
 _ "k8s.io/cli-runtime/pkg/genericclioptions"
 _ "k8s.io/cli-runtime/pkg/genericiooptions"
 _ "k8s.io/client-go/kubernetes"
 _ "k8s.io/client-go/plugin/pkg/client/auth"
 _ "k8s.io/client-go/tools/portforward"
 _ "github.com/olekukonko/tablewriter"
 _ "github.com/briandowns/spinner"
 _ "sigs.k8s.io/yaml"
)
func main(){}
