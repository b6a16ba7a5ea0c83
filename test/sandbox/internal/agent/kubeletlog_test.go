package agent

import (
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestWriteLog(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(ago time.Duration, s string) string { return now.Add(-ago).Format(time.RFC3339Nano) + " " + s }
	lines := []string{at(time.Hour, "old"), at(time.Minute, "recent one"), at(time.Second, "newest")}
	for _, tt := range []struct{ q, want string }{
		{"", "old\nrecent one\nnewest\n"},
		{"sinceSeconds=120", "recent one\nnewest\n"},
		{"tailLines=1", "newest\n"},
		{"limitBytes=8", "old\nrece"},
		{"sinceSeconds=120&limitBytes=100", "recent one\nnewest\n"},
		{"timestamps=true&tailLines=1", lines[2] + "\n"},
	} {
		q, _ := url.ParseQuery(tt.q)
		var b strings.Builder
		writeLog(&b, lines, q, now)
		if b.String() != tt.want {
			t.Errorf("%s: %q, want %q", tt.q, b.String(), tt.want)
		}
	}
}

func TestPreviousLog(t *testing.T) {
	var l podLogs
	if _, ok := l.getPrevious("ns/p"); ok {
		t.Fatal("a previous log before any restart")
	}
	l.add("ns/p", "first container")
	l.restarted("ns/p")
	l.add("ns/p", "second container")
	prev, ok := l.getPrevious("ns/p")
	if !ok || len(prev) != 1 || !strings.HasSuffix(prev[0], " first container") {
		t.Errorf("previous %q %v", prev, ok)
	}
	if cur := l.get("ns/p"); len(cur) != 1 || !strings.HasSuffix(cur[0], " second container") {
		t.Errorf("current %q", cur)
	}
	l.drop("ns/p")
	if _, ok := l.getPrevious("ns/p"); ok {
		t.Error("the previous log outlived the pod")
	}
}
