package table

import (
	"bytes"
	"math/rand/v2"
	"strings"
	"testing"
)

func TestTableAlignsColumnsWithoutTrailingSpace(t *testing.T) {
	var b bytes.Buffer
	tb := New(&b, "NODE", "READY", "SAFE TO STOP")
	tb.Row("axonserver-1", "1/1", "yes")
	tb.Row("axonserver-22", "0/1", "no (_admin)")
	if err := tb.Flush(); err != nil {
		t.Fatal(err)
	}
	want := "NODE            READY   SAFE TO STOP\n" +
		"axonserver-1    1/1     yes\n" +
		"axonserver-22   0/1     no (_admin)\n"
	if b.String() != want {
		t.Fatalf("got\n%q\nwant\n%q", b.String(), want)
	}
}

// TestLayoutMatchesTablewriter: the plain layout prints what tablewriter prints,
// byte for byte, for tables of printable ASCII cells (empty ones, spaces and
// punctuation included), with and without rows.
func TestLayoutMatchesTablewriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = " abcXYZ019-_/():;,.*!~"
	cell := func() string {
		b := make([]byte, rng.IntN(12))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		return string(b)
	}
	for n := range 300 {
		cols := 1 + rng.IntN(8)
		headers := make([]string, cols)
		for i := range headers {
			headers[i] = strings.ToUpper(cell())
		}
		if n%3 == 0 {
			headers = []string{"NODE", "READY", "SAFE TO STOP"}[:min(cols, 3)]
			cols = len(headers)
		}
		tb := New(nil, headers...)
		for range rng.IntN(6) {
			row := make([]string, cols)
			for i := range row {
				row[i] = cell()
			}
			tb.Row(row...)
		}
		if !tb.plain() {
			t.Fatalf("table %d: want plain", n)
		}
		want, err := tb.render()
		if err != nil {
			t.Fatal(err)
		}
		if got := tb.layout(); !bytes.Equal(got, want) {
			t.Fatalf("table %d %q %q:\ngot\n%q\nwant\n%q", n, headers, tb.rows, got, want)
		}
	}
}

// TestNonASCIIGoesThroughTablewriter: cells that are not printable ASCII (wide
// characters, line breaks) or rows of another length are laid out by tablewriter.
func TestNonASCIIGoesThroughTablewriter(t *testing.T) {
	for _, rows := range [][][]string{
		{{"ノード", "1/1"}},
		{{"a\nb", "c"}},
		{{"tab\there", "c"}},
		{{"only one"}},
		{{"é", "x"}},
	} {
		var b bytes.Buffer
		tb := New(&b, "NODE", "READY")
		for _, r := range rows {
			tb.Row(r...)
		}
		if tb.plain() {
			t.Fatalf("%q: want tablewriter", rows)
		}
		want, err := tb.render()
		if err != nil {
			t.Fatal(err)
		}
		if err := tb.Flush(); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(b.Bytes(), want) {
			t.Fatalf("%q: got %q, want %q", rows, b.String(), want)
		}
	}
}
