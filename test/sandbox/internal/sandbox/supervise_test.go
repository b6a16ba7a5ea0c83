package sandbox

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/util/wait"
)

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

func lines(t *testing.T, path string) []string {
	b, _ := os.ReadFile(path)
	return strings.Fields(string(b))
}

// A component that crashes is started again after the backoff, and the
// restart is logged; stopping the supervisor stops the component (SIGTERM)
// and starts nothing more.
func TestSuperviseRestartsACrashedComponent(t *testing.T) {
	marks := filepath.Join(t.TempDir(), "marks")
	// first run: crashes at once; later runs: stay up until SIGTERM
	script := `if [ -e "$0.ran" ]; then trap 'echo term >> "$0"; exit 0' TERM; echo up >> "$0"; while :; do sleep 0.05; done; fi
touch "$0.ran"; echo crash >> "$0"; exit 3`
	var log syncBuffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- Supervise(ctx, "kube-scheduler", []string{"sh", "-c", script, marks}, &log) }()

	err := wait.PollUntilContextTimeout(ctx, 20*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		return len(lines(t, marks)) >= 2, nil
	})
	if err != nil {
		t.Fatalf("not started again after crashing: marks %q; log:\n%s", lines(t, marks), log.String())
	}
	if got := lines(t, marks); got[0] != "crash" || got[1] != "up" {
		t.Fatalf("marks %q, want crash then up", got)
	}
	for _, want := range []string{"kube-scheduler: exited (exit status 3)", "restarting in 1s", "started again"} {
		if !strings.Contains(log.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, log.String())
		}
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("supervisor still running 10 s after its stop")
	}
	if got := lines(t, marks); strings.Join(got, " ") != "crash up term" {
		t.Errorf("marks %q, want the component stopped by SIGTERM and not started again", got)
	}
}
