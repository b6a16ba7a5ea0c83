package cmd

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/cli-runtime/pkg/genericiooptions"

	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
	"github.com/kubectl-axon/kubectl-axon/pkg/quorum"
)

// syncBuffer is a bytes.Buffer safe for the watch goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// eventually waits for cond with a deadline, re-checking on a short tick.
func eventually(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.After(within)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-deadline:
			t.Fatalf("not within %v: %s", within, what)
		case <-tick.C:
		}
	}
}

func TestStatusWatchRedrawsOnChangeOnly(t *testing.T) {
	w := newWorld(t, threeNodes)
	var out syncBuffer
	flags := connect.NewFlags()
	o := &StatusOptions{
		IOStreams: genericiooptions.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: &out},
		Flags:     flags, clients: newClients(w.open, flags, &out), Watch: true, Interval: 100 * time.Millisecond,
		MinActiveBackups: quorum.DefaultMinActiveBackups,
	}
	o.Flags.Transport = connect.TransportDirect
	if err := o.Complete(nil); err != nil {
		t.Fatal(err)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := o.Open(); err != nil {
		t.Fatal(err)
	}
	defer o.session.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- o.Run(ctx) }()

	eventually(t, settle, "a healthy first draw", func() bool { return strings.Contains(out.String(), ": HEALTHY") })
	// Many ticks pass; an unchanged cluster is not drawn again.
	settled := strings.Count(out.String(), "Cluster axonserver")
	time.Sleep(10 * o.Interval) // the quiet period under test: ten ticks with nothing to draw
	if again := strings.Count(out.String(), "Cluster axonserver"); again != settled {
		t.Errorf("redrawn %d times without a change", again-settled)
	}
	if err := w.sim.StopNode("axonserver-3", 5*time.Second); err != nil {
		t.Fatal(err)
	}
	eventually(t, settle, "a redraw showing the stopped node", func() bool { return strings.Contains(out.String(), "NOT HEALTHY") })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("watch ended with %v, want nil on interrupt", err)
		}
	case <-time.After(settle):
		t.Fatal("watch did not stop when its context ended")
	}
}
