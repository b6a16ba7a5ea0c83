// Package table prints kubectl-style tables: a header row in capitals, columns
// separated by spaces, no borders.
package table

import (
	"bytes"
	"io"

	"github.com/olekukonko/tablewriter"
	"github.com/olekukonko/tablewriter/renderer"
	"github.com/olekukonko/tablewriter/tw"
)

// Table collects rows and renders them on Flush.
type Table struct {
	t   *tablewriter.Table
	buf bytes.Buffer
	out io.Writer
}

// New starts a table with the given column headers.
func New(w io.Writer, headers ...string) *Table {
	r := renderer.NewBlueprint(tw.Rendition{
		Borders:  tw.BorderNone,
		Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
	})
	tb := &Table{out: w}
	t := tablewriter.NewTable(&tb.buf,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: "   ", Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	t.Header(toAny(headers)...)
	tb.t = t
	return tb
}

// Row adds one row.
func (t *Table) Row(cells ...string) { _ = t.t.Append(toAny(cells)...) }

// Flush writes the table.
func (t *Table) Flush() error {
	if err := t.t.Render(); err != nil {
		return err
	}
	lines := bytes.Split(bytes.TrimRight(t.buf.Bytes(), "\n"), []byte("\n"))
	for _, l := range lines {
		if _, err := t.out.Write(append(bytes.TrimRight(l, " "), '\n')); err != nil {
			return err
		}
	}
	return nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
