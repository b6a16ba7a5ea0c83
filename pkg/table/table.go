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

// gap separates two columns.
const gap = "   "

// Table collects rows and renders them on Flush.
type Table struct {
	out     io.Writer
	headers []string
	rows    [][]string
}

// New starts a table with the given column headers.
func New(w io.Writer, headers ...string) *Table {
	return &Table{out: w, headers: headers}
}

// Row adds one row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Flush writes the table: every column as wide as its widest cell plus a gap of
// three spaces, each line without trailing spaces. Tables whose cells are all
// printable ASCII, one per column, are laid out here; any other goes through
// tablewriter, which measures display widths and splits lines.
func (t *Table) Flush() error {
	var b []byte
	if t.plain() {
		b = t.layout()
	} else {
		var err error
		if b, err = t.render(); err != nil {
			return err
		}
	}
	_, err := t.out.Write(b)
	return err
}

// plain reports whether every row has one cell per header and every cell,
// header included, is printable ASCII (where a byte is a column of the terminal).
func (t *Table) plain() bool {
	if !printable(t.headers) {
		return false
	}
	for _, r := range t.rows {
		if len(r) != len(t.headers) || !printable(r) {
			return false
		}
	}
	return true
}

// printable reports whether every byte of every cell is printable ASCII.
func printable(cells []string) bool {
	for _, c := range cells {
		for i := 0; i < len(c); i++ {
			if c[i] < ' ' || c[i] > '~' {
				return false
			}
		}
	}
	return true
}

// layout renders a plain table: the header and each row padded to the column
// widths, trailing spaces trimmed.
func (t *Table) layout() []byte {
	widths := make([]int, len(t.headers))
	size := 0
	for _, r := range append([][]string{t.headers}, t.rows...) {
		for i, c := range r {
			widths[i] = max(widths[i], len(c))
		}
	}
	for _, w := range widths {
		size += w + len(gap)
	}
	b := make([]byte, 0, size*(len(t.rows)+1))
	b = line(b, t.headers, widths)
	for _, r := range t.rows {
		b = line(b, r, widths)
	}
	return b
}

// line appends one row, each cell but the last padded to its column's width
// plus the gap, without trailing spaces.
func line(b []byte, cells []string, widths []int) []byte {
	start := len(b)
	for i, c := range cells {
		b = append(b, c...)
		if i < len(cells)-1 {
			for range widths[i] - len(c) + len(gap) {
				b = append(b, ' ')
			}
		}
	}
	b = append(b[:start], bytes.TrimRight(b[start:], " ")...)
	return append(b, '\n')
}

// render lays the table out with tablewriter, lines trimmed of trailing spaces.
func (t *Table) render() ([]byte, error) {
	var buf bytes.Buffer
	r := renderer.NewBlueprint(tw.Rendition{
		Borders:  tw.BorderNone,
		Settings: tw.Settings{Separators: tw.SeparatorsNone, Lines: tw.LinesNone},
	})
	tb := tablewriter.NewTable(&buf,
		tablewriter.WithRenderer(r),
		tablewriter.WithHeaderAutoFormat(tw.Off),
		tablewriter.WithHeaderAlignment(tw.AlignLeft),
		tablewriter.WithRowAlignment(tw.AlignLeft),
		tablewriter.WithRowAutoWrap(tw.WrapNone),
		tablewriter.WithHeaderAutoWrap(tw.WrapNone),
		tablewriter.WithPadding(tw.Padding{Left: "", Right: gap, Overwrite: true}),
		tablewriter.WithTrimSpace(tw.Off),
	)
	tb.Header(toAny(t.headers)...)
	for _, r := range t.rows {
		_ = tb.Append(toAny(r)...)
	}
	if err := tb.Render(); err != nil {
		return nil, err
	}
	var out []byte
	for _, l := range bytes.Split(bytes.TrimRight(buf.Bytes(), "\n"), []byte("\n")) {
		out = append(append(out, bytes.TrimRight(l, " ")...), '\n')
	}
	return out, nil
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
