package progress

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

func TestLinesAndJSON(t *testing.T) {
	var lines, js bytes.Buffer
	sinks := []Sink{New(FormatLines, nil, &lines), New(FormatJSON, &js, nil)}
	for _, s := range sinks {
		s.Emit(Event{Kind: "step-started", Node: "axonserver-1", Step: 1, Steps: 3, Message: "upgrade"})
		s.Emit(Event{Kind: "waiting", Node: "axonserver-1", Message: "not caught up", Transient: true})
		s.Emit(Event{Kind: "waiting", Node: "axonserver-1", Message: "not caught up", Transient: true})
		s.Emit(Event{Kind: "warning", Level: Warn, Message: "slow shutdown"})
		s.Close()
		s.Emit(Event{Kind: "late", Message: "dropped"})
	}
	got := strings.Split(strings.TrimSpace(lines.String()), "\n")
	if len(got) != 3 || !strings.HasSuffix(got[0], " [1/3] axonserver-1: upgrade") ||
		!strings.HasSuffix(got[2], " WARNING: slow shutdown") {
		t.Fatalf("lines:\n%s", lines.String())
	}
	var kinds []string
	for _, l := range strings.Split(strings.TrimSpace(js.String()), "\n") {
		var e Event
		if err := json.Unmarshal([]byte(l), &e); err != nil || e.Time.IsZero() || e.Level == "" {
			t.Fatalf("JSON line %q: %v", l, err)
		}
		kinds = append(kinds, e.Kind)
	}
	if strings.Join(kinds, ",") != "step-started,waiting,warning" {
		t.Fatalf("JSON kinds %v", kinds)
	}
	if IsTerminal(&lines) {
		t.Error("a buffer is not a terminal")
	}
}

// /dev/null is a character device but no terminal: no spinner there.
func TestDevNullIsNoTerminal(t *testing.T) {
	f, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(f) {
		t.Error("/dev/null taken for a terminal")
	}
}
