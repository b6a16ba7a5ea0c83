// Command gendocs writes docs/commands.md from kubectl axon's commands (make docs).
package main

import (
	"bytes"
	"log"
	"os"

	"github.com/kubectl-axon/kubectl-axon/pkg/cmd"
)

func main() {
	var b bytes.Buffer
	if err := cmd.WriteReference(&b); err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile("docs/commands.md", b.Bytes(), 0o644); err != nil {
		log.Fatal(err)
	}
}
