package sandbox

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// ControlSocket is the agent's control endpoint (HTTP over a unix socket in DIR): runtime
// faults of the simulated Axon nodes that no Kubernetes object can express, such as a network
// partition. A path in the file system, so the host reaches it across the network namespace.
const ControlSocket = "agent/control.sock"

// Partition asks the sandbox's agent to cut Axon node off from every other Axon node for d
// (0: until Heal). Its process, HTTP API and pod stay up; a restart does not heal it.
func Partition(ctx context.Context, s *State, node string, d time.Duration) error {
	return PartitionIn(ctx, s, "", node, d)
}

// PartitionIn is Partition of a node of the Axon cluster of namespace ns ("": the topology's).
func PartitionIn(ctx context.Context, s *State, ns, node string, d time.Duration) error {
	return s.control(ctx, "partition", url.Values{"namespace": {ns}, "node": {node}, "for": {d.String()}})
}

// Heal asks the agent to end node's partition now.
func Heal(ctx context.Context, s *State, node string) error { return HealIn(ctx, s, "", node) }

// HealIn is Heal of a node of the Axon cluster of namespace ns ("": the topology's).
func HealIn(ctx context.Context, s *State, ns, node string) error {
	return s.control(ctx, "heal", url.Values{"namespace": {ns}, "node": {node}})
}

// Log asks the agent to write text as a line of Axon node's log (its pod's log): a test
// plants text there.
func Log(ctx context.Context, s *State, node, text string) error {
	return LogIn(ctx, s, "", node, text)
}

// LogIn is Log for a node of the Axon cluster of namespace ns ("": the topology's).
func LogIn(ctx context.Context, s *State, ns, node, text string) error {
	return s.control(ctx, "log", url.Values{"namespace": {ns}, "node": {node}, "text": {text}})
}

// control POSTs one request to the agent's control socket and returns its error, if any.
func (s *State) control(ctx context.Context, what string, q url.Values) error {
	sock := s.Path(ControlSocket)
	client := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		return (&net.Dialer{}).DialContext(ctx, "unix", sock)
	}}}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://agent/"+what+"?"+q.Encode(), nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("agent control socket %s: %w", sock, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("agent: %s: %s", what, strings.TrimSpace(string(body)))
	}
	return nil
}
