package cmd

import (
	"bytes"
	"os"
	"testing"
)

// The command reference in docs/ must show the commands' current flags.
func TestCommandReferenceIsUpToDate(t *testing.T) {
	var b bytes.Buffer
	if err := WriteReference(&b); err != nil {
		t.Fatal(err)
	}
	have, err := os.ReadFile("../../docs/commands.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(have, b.Bytes()) {
		t.Fatal("docs/commands.md is out of date: run `make docs`")
	}
}
