// Package sandbox brings up and tears down a Kubernetes control plane (etcd,
// kube-apiserver, kube-controller-manager, kube-scheduler) inside a network
// namespace of its own, with a node agent that plays the kubelets and a volume
// provisioner, and Axon Server pods played by axonsim.
package sandbox

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
)

// State is what `up` records in DIR/sandbox.json for `down`, `exec` and the agent.
type State struct {
	Dir       string    `json:"dir"`
	Index     int       `json:"index"`
	NetNS     string    `json:"netns"`
	HostVeth  string    `json:"hostVeth"`
	NSVeth    string    `json:"nsVeth"`
	HostIP    string    `json:"hostIP"`
	NSIP      string    `json:"nsIP"`
	PodCIDR   string    `json:"podCIDR"`
	SvcCIDR   string    `json:"serviceCIDR"`
	Server    string    `json:"server"`
	Topology  string    `json:"topology"`
	Namespace string    `json:"namespace"`
	Cluster   string    `json:"cluster"`
	BinDir    string    `json:"binDir"`
	Processes []Process `json:"processes"`
}

// Process is one background process started by the sandbox.
type Process struct {
	Name string   `json:"name"`
	Pid  int      `json:"pid"`
	Args []string `json:"args"`
	Log  string   `json:"log"`
	// Supervisor is the binary supervising Args (axon-sandbox supervise):
	// Pid is the supervisor's. Empty in a sandbox made before supervision.
	Supervisor string `json:"supervisor,omitempty"`

	exited <-chan struct{} // set while the starting process waits for it
}

const stateFile = "sandbox.json"

// MaxIndex bounds the number of sandboxes on one machine.
const MaxIndex = 256

// addressing for sandbox index i (0 <= i < 256), all inside 198.18.0.0/15, the
// range RFC 2544 sets aside for benchmarking, so nothing real lives there:
//
//	veth /30:      198.18.(i/64).(i%64*4) : host .1, namespace .2
//	pods:          198.19.i.0/25 (addresses on the namespace's lo)
//	services:      198.19.i.128/25 (never routed; API objects only)
func addressing(i int) (hostIP, nsIP, podCIDR, svcCIDR string) {
	base := net.IPv4(198, 18, byte(i/64), byte(i%64*4)).To4()
	h := append(net.IP(nil), base...)
	h[3]++
	n := append(net.IP(nil), base...)
	n[3] += 2
	return h.String(), n.String(), fmt.Sprintf("198.19.%d.0/25", i), fmt.Sprintf("198.19.%d.128/25", i)
}

func (s *State) Path(parts ...string) string {
	return filepath.Join(append([]string{s.Dir}, parts...)...)
}

func (s *State) save() error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.Path(stateFile + ".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.Path(stateFile))
}

// LoadState reads DIR/sandbox.json.
func LoadState(dir string) (*State, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, stateFile))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no sandbox in %s (%s missing)", abs, stateFile)
		}
		return nil, err
	}
	var s State
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", stateFile, err)
	}
	s.Dir = abs
	return &s, nil
}
