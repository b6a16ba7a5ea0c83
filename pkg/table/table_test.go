package table

import (
	"bytes"
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
