//go:build e2e

// Package e2e runs kubectl axon the way users do (`kubectl axon ...` with the
// plugin on PATH) against sandboxes: a real control plane built from
// k8s.io/kubernetes, simulated kubelets, Axon Server nodes played by axonsim
// (see test/sandbox). Run with `make e2e`; it needs root (network namespaces)
// and the binaries of `make sandbox-bins`.
package e2e

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	repoRoot string // the root module
	binDir   string // kubectl, kubectl-axon, axon-sandbox, etcd, kube-*
)

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
	binDir = os.Getenv("AXON_E2E_BIN")
	if binDir == "" {
		binDir = filepath.Join(repoRoot, "bin")
	}
	binDir, _ = filepath.Abs(binDir)
	if os.Geteuid() != 0 {
		// A suite that cannot run fails: a green run must mean the suite ran.
		fmt.Println("e2e: FAIL: the sandbox needs root (network namespaces, veth); run as root")
		return 1
	}
	var missing []string
	for _, b := range []string{"etcd", "kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubectl"} {
		if _, err := os.Stat(filepath.Join(binDir, b)); err != nil {
			missing = append(missing, b)
		}
	}
	if len(missing) > 0 {
		fmt.Printf("e2e: %s missing in %s: run `make sandbox-bins` (or `make e2e`)\n", missing, binDir)
		return 1
	}
	// Build the plugin and the sandbox tool from this tree; Go's build cache
	// and build IDs make this a no-op when they are up to date.
	builds := [][]string{
		{repoRoot, "go", "build", "-o", filepath.Join(binDir, "kubectl-axon"), "./cmd/kubectl-axon"},
		{filepath.Join(repoRoot, "test", "sandbox"), "go", "build", "-mod=mod", "-o", filepath.Join(binDir, "axon-sandbox"), "./cmd/axon-sandbox"},
	}
	if os.Getenv("AXON_E2E_BUILT") != "" { // make e2e built them
		builds = nil
	}
	for _, b := range builds {
		start := time.Now()
		cmd := exec.Command(b[1], b[2:]...)
		cmd.Dir = b[0]
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			fmt.Printf("e2e: %v: %v\n", b[1:], err)
			return 1
		}
		fmt.Printf("e2e: built %s in %s\n", filepath.Base(b[4]), time.Since(start).Round(time.Millisecond))
	}
	// kubectl finds the plugin on PATH, as a user's kubectl does.
	os.Setenv("PATH", binDir+string(os.PathListSeparator)+os.Getenv("PATH"))

	// t.Cleanup does not run when the binary dies of -timeout or a signal:
	// tear the sandboxes down ourselves then.
	flag.Parse()
	if f := flag.Lookup("test.timeout"); f != nil {
		if d, ok := f.Value.(flag.Getter).Get().(time.Duration); ok && d > time.Minute {
			time.AfterFunc(d-30*time.Second, func() {
				fmt.Println("e2e: the test timeout is near: tearing the sandboxes down")
				downAll()
			})
		}
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, os.Interrupt, syscall.SIGTERM)
	go func() {
		s := <-sig
		fmt.Printf("e2e: %v: tearing the sandboxes down\n", s)
		downAll()
		os.Exit(1)
	}()
	code := m.Run()
	downAll() // normally a no-op: each test downs its own
	return code
}

var (
	liveMu sync.Mutex
	live   = map[string]bool{} // sandbox directories up
)

func downAll() {
	liveMu.Lock()
	dirs := make([]string, 0, len(live))
	for d := range live {
		dirs = append(dirs, d)
	}
	liveMu.Unlock()
	for _, d := range dirs {
		_ = exec.Command(filepath.Join(binDir, "axon-sandbox"), "down", "--dir", d).Run()
		liveMu.Lock()
		delete(live, d)
		liveMu.Unlock()
	}
}
