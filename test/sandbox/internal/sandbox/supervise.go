package sandbox

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"syscall"
	"time"

	"k8s.io/client-go/util/flowcontrol"
	"k8s.io/utils/clock"
)

// Crash-loop backoff of a supervised component: 1 s, doubling up to 30 s; a
// component that has run for a minute without crashing starts again at 1 s
// (the kubelet restarts a crashed static control-plane pod the same way,
// from 10 s up to 5 min).
const (
	superviseInitialBackoff = time.Second
	superviseMaxBackoff     = 30 * time.Second
)

// Supervise runs argv (a control-plane component or the agent) and starts it
// again, after a backoff, whenever it exits on its own, as the kubelet does
// for a static control-plane pod or systemd for a unit with Restart=always.
// Each exit and restart is logged to log. When ctx ends (the supervisor got
// SIGTERM: `down`, `restart`) it passes SIGTERM on, waits for the component to
// exit and returns; if the supervisor itself is killed, the kernel kills the
// component (parent-death signal).
func Supervise(ctx context.Context, name string, argv []string, log io.Writer) error {
	return supervise(ctx, name, argv, log, clock.RealClock{})
}

func supervise(ctx context.Context, name string, argv []string, log io.Writer, clk clock.Clock) error {
	if len(argv) == 0 {
		return errors.New("supervise: no command")
	}
	// The parent-death signal fires when the thread that started the child
	// ends: keep this goroutine on one thread for good.
	runtime.LockOSThread()
	backoff := flowcontrol.NewFakeBackOff(superviseInitialBackoff, superviseMaxBackoff, clk)
	logf := func(format string, args ...any) {
		fmt.Fprintf(log, "%s axon-sandbox supervise: %s: %s\n", clk.Now().UTC().Format(time.RFC3339), name, fmt.Sprintf(format, args...))
	}
	for restarts := 0; ; restarts++ {
		cmd := exec.Command(argv[0], argv[1:]...)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr // the component's log, as the supervisor's
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		started := clk.Now()
		if err := cmd.Start(); err != nil {
			logf("start: %v", err)
		} else {
			if restarts > 0 {
				logf("started again (pid %d, restart %d)", cmd.Process.Pid, restarts)
			}
			exited := make(chan error, 1)
			go func() { exited <- cmd.Wait() }()
			select {
			case <-ctx.Done():
				_ = cmd.Process.Signal(syscall.SIGTERM)
				<-exited
				return nil
			case err := <-exited:
				if ctx.Err() != nil {
					return nil
				}
				logf("exited (%v) after %s", exitText(err), clk.Since(started).Round(time.Millisecond))
			}
		}
		backoff.Next(name, clk.Now())
		delay := backoff.Get(name)
		logf("restarting in %s", delay)
		select {
		case <-ctx.Done():
			return nil
		case <-clk.After(delay):
		}
	}
}

func exitText(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}
