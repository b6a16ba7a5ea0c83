package sandbox

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// startInNS starts bin with args inside the sandbox's network namespace,
// under a supervisor (`axon-sandbox supervise`, see Supervise) that starts it
// again if it exits on its own, as a detached process (own session, stdin
// /dev/null, output to DIR/logs/NAME.log), and records the supervisor's pid.
// `ip netns exec` execs the supervisor, so the pid is its own.
func (s *State) startInNS(name, bin string, args ...string) (*Process, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	return s.startSupervised(self, name, bin, args...)
}

func (s *State) startSupervised(supervisor, name, bin string, args ...string) (*Process, error) {
	if err := os.MkdirAll(s.Path("logs"), 0o755); err != nil {
		return nil, err
	}
	logPath := s.Path("logs", name+".log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return nil, err
	}
	defer devnull.Close()
	full := append([]string{"netns", "exec", s.NetNS, supervisor, "supervise", "--name", name, "--", bin}, args...)
	cmd := exec.Command("ip", full...)
	cmd.Stdin = devnull
	cmd.Stdout = logf
	cmd.Stderr = logf
	cmd.Dir = s.Dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := Process{Name: name, Pid: cmd.Process.Pid, Args: append([]string{bin}, args...), Log: logPath, Supervisor: supervisor}
	// Reap it in the background while `up` runs; after `up` returns, init does.
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	p.exited = exited
	s.Processes = append(s.Processes, p)
	if err := s.save(); err != nil {
		return nil, err
	}
	return &p, nil
}

// alive reports whether pid runs the recorded binary (guards against pid reuse).
func (p Process) alive() bool {
	if p.Pid <= 0 {
		return false
	}
	if p.exited != nil { // started by this process: we know for sure
		select {
		case <-p.exited:
			return false
		default:
			return true
		}
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", p.Pid))
	if err != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.Pid))
	if err == nil {
		// zombie: state field after "(comm) "
		if i := strings.LastIndexByte(string(stat), ')'); i >= 0 && i+2 < len(stat) && stat[i+2] == 'Z' {
			return false
		}
	}
	args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
	if len(args) == 0 || len(p.Args) == 0 {
		return false
	}
	bin := p.Args[0]
	if p.Supervisor != "" {
		bin = p.Supervisor
	}
	// `ip netns exec` has exec'd the binary, or has not yet (then argv holds it).
	return filepath.Base(args[0]) == filepath.Base(bin) || strings.Contains(string(b), bin)
}

// stop sends SIGTERM, waits up to grace, then SIGKILL. To a supervised
// process's supervisor: it passes SIGTERM on and exits when the component
// has; killed, it takes the component with it.
func (p Process) stop(grace time.Duration) error {
	if !p.alive() {
		return nil
	}
	if err := syscall.Kill(p.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return err
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) {
		if !p.alive() {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	_ = syscall.Kill(p.Pid, syscall.SIGKILL)
	for i := 0; i < 50 && p.alive(); i++ {
		time.Sleep(100 * time.Millisecond)
	}
	if p.alive() {
		return fmt.Errorf("%s (pid %d) still running after SIGKILL", p.Name, p.Pid)
	}
	return nil
}
