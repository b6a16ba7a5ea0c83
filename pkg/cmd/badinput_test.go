package cmd

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	k8stesting "k8s.io/client-go/testing"

	"github.com/kubectl-axon/kubectl-axon/pkg/cli"
	"github.com/kubectl-axon/kubectl-axon/pkg/connect"
)

// badInput is one wrong invocation: what it must answer, and (by construction of the
// test) that it changes nothing in Kubernetes or in Axon Server.
type badInput struct {
	args []string
	code int
	// says is a piece of the one-line error.
	says string
	// noCluster: run without --transport=direct (commands that take no cluster flags).
	noCluster bool
}

var badInputs = []badInput{
	// status
	{args: []string{"status", "-o", "xml"}, code: cli.ExitUsage, says: "--output must be one of"},
	{args: []string{"status", "--transport", "pigeon"}, code: cli.ExitUsage, says: "--transport must be"},
	{args: []string{"status", "--token-secret", "no-key"}, code: cli.ExitUsage, says: "token-secret"},
	{args: []string{"status", "--token-secret", "a/b", "--token-file", "/tmp/t"}, code: cli.ExitUsage, says: "exclusive"},
	{args: []string{"status", "--axon-url", "ftp://x"}, code: cli.ExitUsage, says: "--axon-url"},
	{args: []string{"status", "--axon-scheme", "gopher"}, code: cli.ExitUsage, says: "--axon-scheme"},
	{args: []string{"status", "-A", "--watch"}, code: cli.ExitUsage, says: "exclusive"},
	{args: []string{"status", "--concurrency", "0"}, code: cli.ExitUsage, says: "--concurrency"},
	{args: []string{"status", "--axon-timeout", "0s"}, code: cli.ExitUsage, says: "--axon-timeout"},
	{args: []string{"status", "-l", "a==b==c"}, code: cli.ExitUsage, says: "not a label selector"},
	{args: []string{"status", "surplus"}, code: cli.ExitUsage, says: "unknown command"},
	{args: []string{"status", "--no-such-flag"}, code: cli.ExitUsage, says: "unknown flag"},
	{args: []string{"status", "-n", "nope"}, code: cli.ExitError, says: `namespace "nope" not found`},
	{args: []string{"status", "-n", "empty"}, code: cli.ExitError, says: "no Axon Server StatefulSets"},
	{args: []string{"status", "--axon-cluster", "other"}, code: cli.ExitError, says: "no Axon Server StatefulSets"},
	{args: []string{"status", "--axon-scheme", "https"}, code: cli.ExitError, says: "plain HTTP"},
	// credentials: checked before any request to Axon Server
	{args: []string{"status", "--token-file", "/dev/null"}, code: cli.ExitUsage, says: "--token-file /dev/null is empty"},
	{args: []string{"status", "--token-file", "/nonexistent/token"}, code: cli.ExitUsage, says: "cannot read it"},
	{args: []string{"status", "--token-secret", "missing/token"}, code: cli.ExitUsage, says: "Secret missing does not exist"},
	{args: []string{"status", "--token-secret", "a/b", "--axon-url", "http://127.0.0.1:1"}, code: cli.ExitUsage, says: "--token-secret needs Kubernetes"},
	{args: []string{"doctor", "--token-secret", "missing/token"}, code: cli.ExitUsage, says: "Secret missing does not exist"},
	{args: []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--token-file", "/dev/null"}, code: cli.ExitUsage, says: "is empty"},
	{args: []string{"replace-node", "--all", "--token-secret", "missing/token"}, code: cli.ExitUsage, says: "Secret missing does not exist"},
	{args: []string{"drain-node", "worker-a", "--token-file", "/dev/null"}, code: cli.ExitUsage, says: "is empty"},
	// upgrade
	{args: []string{"upgrade"}, code: cli.ExitUsage, says: "--image is required"},
	{args: []string{"upgrade", "--image", "Bad Image!!"}, code: cli.ExitUsage, says: "not a valid image reference"},
	{args: []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "axonserver-9"}, code: cli.ExitUsage, says: `no node "axonserver-9"`},
	{args: []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--timeout", "-1s"}, code: cli.ExitUsage, says: "not negative"},
	{args: []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--axon-url", "http://127.0.0.1:1"}, code: cli.ExitUsage, says: "needs Kubernetes"},
	{args: []string{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "-o", "xml"}, code: cli.ExitUsage, says: "output"},
	// replace-node
	{args: []string{"replace-node"}, code: cli.ExitUsage, says: "give --all"},
	{args: []string{"replace-node", "--all", "axonserver-1"}, code: cli.ExitUsage, says: "not both"},
	{args: []string{"replace-node", "axonserver-9"}, code: cli.ExitUsage, says: `no node "axonserver-9"`},
	{args: []string{"replace-node", "--fresh-volume", "axonserver-1"}, code: cli.ExitUsage, says: "give --yes"},
	{args: []string{"replace-node", "--fresh-volume", "--force", "--yes", "axonserver-1"}, code: cli.ExitUsage, says: "--force does not apply"},
	// drain-node
	{args: []string{"drain-node"}, code: cli.ExitUsage, says: "accepts 1 arg"},
	{args: []string{"drain-node", "worker-a", "worker-b"}, code: cli.ExitUsage, says: "accepts 1 arg"},
	{args: []string{"drain-node", "worker-zz"}, code: cli.ExitUsage, says: `no worker "worker-zz"`},
	// add-node, remove-node, move-member, set-role
	{args: []string{"add-node", "Bad_Name"}, code: cli.ExitUsage, says: "not a valid node name"},
	{args: []string{"add-node", "--groups", "payments:KING"}, code: cli.ExitUsage, says: "unknown role"},
	{args: []string{"add-node", "--like", "axonserver-9"}, code: cli.ExitUsage, says: `no node "axonserver-9"`},
	{args: []string{"add-node", "--axon-url", "http://127.0.0.1:1"}, code: cli.ExitUsage, says: "needs Kubernetes"},
	{args: []string{"remove-node"}, code: cli.ExitUsage, says: "name the node"},
	{args: []string{"remove-node", "axonserver-9"}, code: cli.ExitUsage, says: `no node "axonserver-9"`},
	{args: []string{"remove-node", "axonserver-1", "--move-to", "axonserver-1"}, code: cli.ExitUsage, says: "cannot take over"},
	{args: []string{"remove-node", "axonserver-1", "--move-to", "axonserver-9"}, code: cli.ExitUsage, says: `no node "axonserver-9"`},
	{args: []string{"move-member", "payments", "--from", "axonserver-1"}, code: cli.ExitUsage, says: "--from and --to are required"},
	{args: []string{"move-member", "payments", "--from", "axonserver-1", "--to", "axonserver-1"}, code: cli.ExitUsage, says: "the same node"},
	{args: []string{"move-member", "nope", "--from", "axonserver-1", "--to", "axonserver-2"}, code: cli.ExitUsage, says: `no replication group "nope"`},
	{args: []string{"move-member", "payments", "--from", "axonserver-1", "--to", "axonserver-2", "--role", "KING"}, code: cli.ExitUsage, says: "unknown role"},
	{args: []string{"set-role", "payments", "axonserver-1"}, code: cli.ExitUsage, says: "GROUP NODE ROLE"},
	{args: []string{"set-role", "payments", "axonserver-1", "KING"}, code: cli.ExitUsage, says: "unknown role"},
	// doctor
	{args: []string{"doctor", "-o", "xml"}, code: cli.ExitUsage, says: "--output must be"},
	{args: []string{"doctor", "-n", "nope"}, code: cli.ExitError, says: `namespace "nope" not found`},
	// backup
	{args: []string{"backup"}, code: cli.ExitUsage, says: "--to DIR is required"},
	{args: []string{"backup", "--to", "/nonexistent/b", "--method", "volume-snapshot", "--since", "/etc"}, code: cli.ExitUsage, says: "incremental backups are --method files"},
	{args: []string{"backup", "--to", "/nonexistent/b", "--stop-node"}, code: cli.ExitUsage, says: "belong to --method volume-snapshot"},
	{args: []string{"backup", "--to", "/nonexistent/b", "--method", "ftp"}, code: cli.ExitUsage, says: "--method must be files"},
	{args: []string{"backup", "--to", "/etc"}, code: cli.ExitUsage, says: "exists and is not empty"},
	{args: []string{"backup", "--to", "/nonexistent/b", "--since", "/etc"}, code: cli.ExitUsage, says: "no manifest.json"},
	{args: []string{"backup", "--to", "/nonexistent/b", "--contexts", "nope"}, code: cli.ExitUsage, says: `unknown context "nope"`},
	{args: []string{"backup", "--to", "/nonexistent/b", "--node", "axonserver-9"}, code: cli.ExitRefused, says: "not in the cluster"},
	{args: []string{"backup", "verify", "/etc"}, code: cli.ExitUsage, says: "not a kubectl axon backup", noCluster: true},
	{args: []string{"backup", "list"}, code: cli.ExitUsage, says: "requires at least 1 arg", noCluster: true},
	// restore
	{args: []string{"restore"}, code: cli.ExitUsage, says: "--from DIR is required"},
	{args: []string{"restore", "--from", "/etc"}, code: cli.ExitUsage, says: "no manifest.json"},
	{args: []string{"restore", "--from", "/etc", "-o", "yaml"}, code: cli.ExitUsage, says: "--output must be json"},
	// generate, version, completion: no cluster
	{args: []string{"generate", "--nodes", "0"}, code: cli.ExitUsage, says: "--nodes", noCluster: true},
	{args: []string{"generate", "--name", "Bad_Name"}, code: cli.ExitUsage, says: "--name", noCluster: true},
	{args: []string{"generate", "--image", "axoniq/axonserver:latest"}, code: cli.ExitUsage, says: "latest", noCluster: true},
	{args: []string{"generate", "--events-size", "lots"}, code: cli.ExitUsage, says: "--events-size", noCluster: true},
	{args: []string{"version", "-o", "xml"}, code: cli.ExitUsage, says: "--output", noCluster: true},
	{args: []string{"completion", "tcsh"}, code: cli.ExitUsage, says: "invalid argument", noCluster: true},
	{args: []string{"no-such-command"}, code: cli.ExitUsage, says: "unknown command", noCluster: true},
}

func isWrite(a k8stesting.Action) bool {
	switch a.GetVerb() {
	case "get", "list", "watch":
		return false
	}
	return true
}

// TestBadInputChangesNothing: every bad input gets one line on stderr, nothing on
// stdout, its documented exit code, and leaves the cluster as it was: no write to the
// API server, no event in the simulated Axon Server cluster.
func TestBadInputChangesNothing(t *testing.T) {
	if len(badInputs) < 30 {
		t.Fatalf("the table must hold at least 30 bad inputs, has %d", len(badInputs))
	}
	w := newWorld(t, threeNodes)
	w.waitStatusHealthy(t) // formation over: every later Axon event would be the input's doing
	for _, tc := range badInputs {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			actions, events := len(w.kube.Actions()), len(w.sim.Events())
			var code int
			var out, errOut string
			if tc.noCluster {
				code, out, errOut = runWith(t, w.open, tc.args...)
			} else {
				code, out, errOut = w.run(t, tc.args[0], tc.args[1:]...)
			}
			if code != tc.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tc.code, errOut)
			}
			if out != "" {
				t.Errorf("stdout must stay empty, got %q", out)
			}
			if !strings.HasPrefix(errOut, "error: ") || strings.Count(errOut, "\n") != 1 || !strings.Contains(errOut, tc.says) {
				t.Errorf("want one line `error: ...%s...`, got %q", tc.says, errOut)
			}
			for _, a := range w.kube.Actions()[actions:] {
				if isWrite(a) {
					t.Errorf("bad input wrote to the API server: %s %s", a.GetVerb(), a.GetResource().Resource)
				}
			}
			if ev := w.sim.Events()[events:]; len(ev) != 0 {
				t.Errorf("bad input changed Axon Server: %+v", ev)
			}
		})
	}
}

// Answers that are not Axon Server's, and nodes that are not there, are errors of
// one line too, without Kubernetes (--axon-url).
func TestBadAnswersFromAxonServer(t *testing.T) {
	for name, handler := range map[string]http.HandlerFunc{
		"truncated JSON": func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`[{"name":"a","hostName":`)) },
		"not JSON":       func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`<html>proxy error</html>`)) },
		"wrong types":    func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte(`{"name":42}`)) },
		"503":            func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusServiceUnavailable) },
	} {
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(handler)
			defer srv.Close()
			code, out, errOut := runWith(t, connect.Open, "status", "--axon-url", srv.URL)
			if code != cli.ExitError || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "error: ") {
				t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
		})
	}
	srv := httptest.NewServer(http.NotFoundHandler())
	url := srv.URL
	srv.Close() // nothing listens there any more
	code, _, errOut := runWith(t, connect.Open, "status", "--axon-url", url)
	if code != cli.ExitError || !strings.Contains(errOut, "connection refused") {
		t.Errorf("unreachable: exit %d, stderr %q", code, errOut)
	}
}

// TestFlagErrorsOpenNothing: the commands run in kubectl's order (Complete,
// Validate, then the clients), so a wrong flag is refused before any client is
// opened: not even a kubeconfig is read.
func TestFlagErrorsOpenNothing(t *testing.T) {
	for _, args := range [][]string{
		{"status", "-o", "xml"},
		{"status", "-A", "--watch"},
		{"doctor", "-o", "xml"},
		{"upgrade"},
		{"upgrade", "--image", "Bad Image!!"},
		{"upgrade", "--image", "axoniq/axonserver:2024.2.0-nonroot", "--poll-interval", "1ms"},
		{"replace-node", "--all", "axonserver-1"},
		{"replace-node", "--fresh-volume", "--force", "--yes", "axonserver-1"},
		{"drain-node", "worker-a", "--eviction-retry", "1ms"},
		{"add-node", "Bad_Name"},
		{"remove-node", "axonserver-1", "--move-to", "axonserver-1"},
		{"move-member", "payments", "--from", "axonserver-1"},
		{"set-role", "payments", "axonserver-1", "KING"},
	} {
		opened := false
		open := func(*connect.Flags) (*connect.Session, error) {
			opened = true
			return nil, errors.New("opened")
		}
		code, _, errOut := runWith(t, open, args...)
		if code != cli.ExitUsage || opened {
			t.Errorf("%s: exit %d, clients opened %v (stderr %q): want exit %d before any client", strings.Join(args, " "), code, opened, errOut, cli.ExitUsage)
		}
	}
}
