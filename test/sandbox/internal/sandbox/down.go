package sandbox

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
	"time"
)

// Down stops every process the sandbox started (by pid, newest first: the
// agent stops its Axon nodes cleanly before the control plane goes) and
// removes the veth pair and the network namespace. Data stays in DIR.
func Down(s *State, log io.Writer) error {
	var errs []error
	for i := len(s.Processes) - 1; i >= 0; i-- {
		p := s.Processes[i]
		grace := 10 * time.Second
		if p.Name == "agent" {
			grace = 30 * time.Second
		}
		if p.alive() && log != nil {
			fmt.Fprintf(log, "axon-sandbox: stopping %s (pid %d)\n", p.Name, p.Pid)
		}
		if err := p.stop(grace); err != nil {
			errs = append(errs, err)
		}
	}
	errs = append(errs, teardownNetwork(s)...)
	if len(errs) == 0 {
		s.Processes = nil
		_ = s.save()
	}
	return errors.Join(errs...)
}

// Exec runs argv inside the sandbox's network namespace with KUBECONFIG set
// to the admin kubeconfig; it replaces the current process.
func Exec(s *State, argv []string) error {
	if !netnsExists(s.NetNS) {
		return fmt.Errorf("network namespace %s is gone: is the sandbox up?", s.NetNS)
	}
	ip, err := exec.LookPath("ip")
	if err != nil {
		return err
	}
	env := os.Environ()
	if os.Getenv("KUBECONFIG") == "" {
		env = append(env, "KUBECONFIG="+s.Path("kubeconfig"))
	}
	env = append(env, "PATH="+s.BinDir+":"+os.Getenv("PATH"))
	return syscall.Exec(ip, append([]string{"ip", "netns", "exec", s.NetNS}, argv...), env)
}
