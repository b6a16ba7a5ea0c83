// Package axonserver is a thin, typed client for Axon Server's HTTP API (port
// 8024): /v1/public, /v1/cluster, contexts, replication groups, Raft status,
// tasks, actuator and backup listings. It knows nothing of Kubernetes: give it a
// base URL and an *http.Client (pkg/transport builds both).
//
// Every error is an *Error naming the node, method and path, on one line; the
// access token travels only in the AxonIQ-Access-Token header and never appears
// in errors, logs or formatted values.
package axonserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Version is the plugin version reported in the User-Agent; the build sets it.
var Version = "dev"

// UserAgent returns the User-Agent sent by default: kubectl-axon/<Version>.
func UserAgent() string { return "kubectl-axon/" + Version }

const maxBody = 16 << 20

// Client talks to one Axon Server node.
type Client struct {
	base      string // no trailing slash
	hc        *http.Client
	tokens    TokenSource
	node      string
	userAgent string
}

// Option configures a Client.
type Option func(*Client)

// WithToken sets the token source (default: no token).
func WithToken(ts TokenSource) Option { return func(c *Client) { c.tokens = ts } }

// WithNode names the node in error messages (e.g. "axonserver-1").
func WithNode(name string) Option { return func(c *Client) { c.node = name } }

// WithUserAgent overrides the User-Agent.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client for the node at baseURL (scheme://host:port[/prefix],
// e.g. a pod-proxy URL). hc nil means http.DefaultClient.
func New(baseURL string, hc *http.Client, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("axon server URL %q: want scheme://host[:port][/path]", baseURL)
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("axon server URL %q: scheme must be http or https", baseURL)
	}
	if hc == nil {
		hc = http.DefaultClient
	}
	c := &Client{base: strings.TrimRight(baseURL, "/"), hc: hc, tokens: NoToken, userAgent: UserAgent()}
	for _, o := range opts {
		o(c)
	}
	return c, nil
}

// Node returns the node name given with WithNode.
func (c *Client) Node() string { return c.node }

// BaseURL returns the base URL.
func (c *Client) BaseURL() string { return c.base }

// String describes the client without secrets.
func (c *Client) String() string {
	return fmt.Sprintf("axonserver.Client{node=%q, url=%q}", c.node, c.base)
}

// GoString keeps %#v from dumping the token source.
func (c *Client) GoString() string { return c.String() }

// request describes one call.
type request struct {
	method string
	path   string
	query  url.Values
	body   any // JSON-encoded when non-nil
	// eeOnly: a 404 without an Axon error code means "not Enterprise".
	eeOnly bool
	// okStatus lists extra statuses whose body is still decoded (health: 503).
	okStatus []int
}

// do performs the call and decodes a JSON answer into out (nil: ignore body).
func (c *Client) do(ctx context.Context, r request, out any) error {
	body, err := c.raw(ctx, r)
	if err != nil || out == nil {
		return err
	}
	if len(bytes.TrimSpace(body)) == 0 {
		return c.fail(r, "empty response body, expected JSON", ErrMalformedResponse)
	}
	if err := decodeJSON(body, out); err != nil {
		return c.fail(r, decodeError(err), ErrMalformedResponse)
	}
	return nil
}

func (c *Client) fail(r request, msg string, cause error) *Error {
	return &Error{Node: c.node, Method: r.method, Path: r.path, Message: msg, Err: cause}
}

// getRetries are the pauses before a GET is asked again after an answer that says
// the node was busy for a moment (HTTP 429, 502, 503, 504 from the node itself): one
// such answer must not make a node look unknown. A node that cannot be reached at
// all (connection refused, or the API server's proxy failing to reach the pod) is
// not asked again: that is its state, and the next look asks anyway.
var getRetries = []time.Duration{100 * time.Millisecond, 300 * time.Millisecond}

// raw performs the call and returns the body of a successful answer.
func (c *Client) raw(ctx context.Context, r request) ([]byte, error) {
	body, err := c.once(ctx, r)
	if r.method != http.MethodGet {
		return body, err
	}
	for _, pause := range getRetries {
		if !busy(err) {
			break
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return body, err
		case <-t.C:
		}
		body, err = c.once(ctx, r)
	}
	return body, err
}

// busy reports an answer from the node that says it was busy for a moment.
func busy(err error) bool {
	var e *Error
	if !errors.As(err, &e) || e.StatusCode == 0 || !IsTransient(err) {
		return false
	}
	return !strings.Contains(e.Message, "error trying to reach service")
}

// once performs the call once.
func (c *Client) once(ctx context.Context, r request) ([]byte, error) {
	u := c.base + r.path
	if len(r.query) > 0 {
		u += "?" + r.query.Encode()
	}
	var rb io.Reader
	if r.body != nil {
		b, err := json.Marshal(r.body)
		if err != nil {
			return nil, c.fail(r, "encoding request: "+err.Error(), err)
		}
		rb = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, r.method, u, rb)
	if err != nil {
		return nil, c.fail(r, "building request: "+oneLine(err.Error()), err)
	}
	req.Header.Set("Accept", "application/json, text/plain;q=0.9, */*;q=0.5")
	req.Header.Set("User-Agent", c.userAgent)
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	tok, err := c.tokens.Token(ctx)
	if err != nil {
		return nil, c.fail(r, oneLine(err.Error()), err)
	}
	if !tok.Empty() {
		req.Header.Set(TokenHeader, tok.Reveal())
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, c.fail(r, ctx.Err().Error(), ctx.Err())
		}
		return nil, transportError(c.node, r.method, r.path, c.base, err)
	}
	defer resp.Body.Close()
	body, err := readBody(resp)
	if err != nil {
		return nil, c.fail(r, "reading response: "+decodeError(err), ErrMalformedResponse)
	}
	if resp.StatusCode/100 == 2 || containsInt(r.okStatus, resp.StatusCode) {
		return body, nil
	}
	e := httpError(c.node, r.method, r.path, resp, body)
	switch {
	case resp.StatusCode == http.StatusBadRequest && plainHTTPToTLS(body):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("%s expects HTTPS (TLS) but was spoken to in plain HTTP; use the https scheme (e.g. an https:// --axon-url) with --axon-ca-file", hostOf(c.base))
	case resp.StatusCode == http.StatusNotFound && r.eeOnly && e.Code == "":
		e.Err = ErrNotEnterprise
		e.Message = "endpoint not found: this server is not Axon Server Enterprise (or too old for it)"
	case e.Is(ErrInvalidToken):
		e.Err = ErrInvalidToken
		e.Message = "Invalid token: the access token was rejected (check --token-secret / the token source)"
	case resp.StatusCode == http.StatusForbidden:
		e.Err = ErrForbidden
	case resp.StatusCode == http.StatusNotFound:
		e.Err = ErrNotFound
	}
	return nil, e
}

// readBody reads at most maxBody bytes of the answer as io.ReadAll does, into a
// buffer of the length the answer announces (Content-Length) when it does.
func readBody(resp *http.Response) ([]byte, error) {
	r := io.LimitReader(resp.Body, maxBody)
	n := resp.ContentLength
	if n <= 0 || n > maxBody {
		return io.ReadAll(r)
	}
	b := make([]byte, 0, n+1)
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		m, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+m]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

func plainHTTPToTLS(body []byte) bool {
	s := string(body)
	return strings.Contains(s, "HTTP request to an HTTPS server") || strings.Contains(s, "requires TLS")
}

func containsInt(xs []int, x int) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

func seg(s string) string { return url.PathEscape(s) }

// Public lists the nodes this node knows (GET /v1/public), sorted by name.
func (c *Client) Public(ctx context.Context) ([]Node, error) {
	var out []Node
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/public"}, &out)
}

// Me describes the queried node (GET /v1/public/me).
func (c *Client) Me(ctx context.Context) (*NodeInfo, error) {
	var out NodeInfo
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/public/me"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ClusterNodes lists the cluster's registered nodes (GET /v1/cluster, EE).
func (c *Client) ClusterNodes(ctx context.Context) ([]ClusterNode, error) {
	var out []ClusterNode
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster", eeOnly: true}, &out)
}

// ClusterNode returns one node (GET /v1/cluster/{name}); unknown: IsNotFound and
// HasCode(err, CodeNoSuchNode).
func (c *Client) ClusterNode(ctx context.Context, name string) (*ClusterNode, error) {
	var out ClusterNode
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/cluster/" + seg(name), eeOnly: true}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// JoinCluster asks the queried node to join the cluster reachable at
// req.InternalHostName:req.InternalGrpcPort (POST /v1/cluster). Accepted: 202.
// Already clustered: 409 with success=false.
func (c *Client) JoinCluster(ctx context.Context, req JoinRequest) (*RestResponse, error) {
	return c.restResponse(ctx, request{method: http.MethodPost, path: "/v1/cluster", body: req, eeOnly: true})
}

// RemoveNode unregisters a node from the cluster (DELETE /v1/cluster/{name}).
// Asynchronous; an unknown node is a no-op.
func (c *Client) RemoveNode(ctx context.Context, name string) error {
	_, err := c.raw(ctx, request{method: http.MethodDelete, path: "/v1/cluster/" + seg(name), eeOnly: true})
	return err
}

// Contexts lists contexts (GET /v1/public/context, EE). 4.3 answers decode too.
func (c *Client) Contexts(ctx context.Context) ([]Context, error) {
	var out []Context
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/public/context", eeOnly: true}, &out)
}

// ReplicationGroups lists replication groups (GET /v1/public/replicationgroups,
// EE 4.4+).
func (c *Client) ReplicationGroups(ctx context.Context) ([]ReplicationGroup, error) {
	var out []ReplicationGroup
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/public/replicationgroups", eeOnly: true}, &out)
}

// AddNodeToReplicationGroup adds node to group with role, or changes its role
// (POST /v1/replicationgroups/{group}/{node}?role=ROLE). Accepted: 202.
func (c *Client) AddNodeToReplicationGroup(ctx context.Context, group, node, role string) (*RestResponse, error) {
	q := url.Values{}
	if role != "" {
		q.Set("role", role)
	}
	return c.restResponse(ctx, request{method: http.MethodPost,
		path: "/v1/replicationgroups/" + seg(group) + "/" + seg(node), query: q, eeOnly: true})
}

// RemoveNodeFromReplicationGroup removes node from group (DELETE
// /v1/replicationgroups/{group}/{node}?preserveEventStore=...). Accepted: 202.
func (c *Client) RemoveNodeFromReplicationGroup(ctx context.Context, group, node string, preserveEventStore bool) (*RestResponse, error) {
	q := url.Values{"preserveEventStore": {strconv.FormatBool(preserveEventStore)}}
	return c.restResponse(ctx, request{method: http.MethodDelete,
		path: "/v1/replicationgroups/" + seg(group) + "/" + seg(node), query: q, eeOnly: true})
}

// ReplicationGroupRoles lists assignable roles (GET /v1/replicationgroups/roles).
// The server returns a set: the order is not defined.
func (c *Client) ReplicationGroupRoles(ctx context.Context) ([]string, error) {
	var out []string
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/replicationgroups/roles", eeOnly: true}, &out)
}

// RaftStatus returns the queried node's Raft state per replication group (GET
// /internal/raft/status, EE, needs ADMIN).
func (c *Client) RaftStatus(ctx context.Context) ([]RaftStatus, error) {
	var out []RaftStatus
	return out, c.do(ctx, request{method: http.MethodGet, path: "/internal/raft/status", eeOnly: true}, &out)
}

// Tasks lists scheduled tasks (GET /v1/tasks, EE 4.3+).
func (c *Client) Tasks(ctx context.Context) ([]Task, error) {
	var out []Task
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/tasks", eeOnly: true}, &out)
}

// Info returns GET /actuator/info (no access control; answers early in startup).
func (c *Client) Info(ctx context.Context) (*Info, error) {
	var out Info
	if err := c.do(ctx, request{method: http.MethodGet, path: "/actuator/info"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Env returns GET /actuator/env (Spring Boot's effective configuration; not behind
// access control). Axon Server's default configuration exposes it; where it is not
// exposed the answer is a 404 (IsNotFound).
func (c *Client) Env(ctx context.Context) (*Env, error) {
	var out Env
	if err := c.do(ctx, request{method: http.MethodGet, path: "/actuator/env"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Health returns GET /actuator/health. A 503 with a health body (DOWN,
// OUT_OF_SERVICE, possibly WARN) is returned as a Health, not an error: read
// Status.
func (c *Client) Health(ctx context.Context) (*Health, error) {
	var out Health
	if err := c.do(ctx, request{method: http.MethodGet, path: "/actuator/health", okStatus: []int{http.StatusServiceUnavailable}}, &out); err != nil {
		return nil, err
	}
	if out.Status == "" {
		return nil, c.fail(request{method: http.MethodGet, path: "/actuator/health"}, "malformed JSON: no status in health answer", ErrMalformedResponse)
	}
	return &out, nil
}

// BackupFilenames lists event or snapshot files to back up (GET
// /v1/backup/filenames; deprecated since 4.5.17). fileType: EVENT or SNAPSHOT.
func (c *Client) BackupFilenames(ctx context.Context, contextName, fileType string, lastSegmentBackedUp int64) ([]string, error) {
	q := url.Values{"context": {contextName}, "type": {fileType},
		"lastSegmentBackedUp": {strconv.FormatInt(lastSegmentBackedUp, 10)}}
	var out []string
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/backup/filenames", query: q}, &out)
}

// EventStoreBackupQuery are the parameters of GET /v1/backup/eventstore.
type EventStoreBackupQuery struct {
	Context                   string // sent as targetContext
	Type                      string // EVENT or SNAPSHOT
	LastClosedSegmentBackedUp int64  // -1: none yet
	LastClosedVersionBackedUp int64  // -1: none yet
}

// BackupEventStore lists event store files to back up (GET /v1/backup/eventstore,
// 4.5.17+).
func (c *Client) BackupEventStore(ctx context.Context, p EventStoreBackupQuery) (*EventStoreBackup, error) {
	q := url.Values{"targetContext": {p.Context}, "type": {p.Type},
		"lastClosedSegmentBackedUp": {strconv.FormatInt(p.LastClosedSegmentBackedUp, 10)},
		"lastClosedVersionBackedUp": {strconv.FormatInt(p.LastClosedVersionBackedUp, 10)}}
	var out EventStoreBackup
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/backup/eventstore", query: q}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// BackupLogFilenames lists replication log files of a replication group (GET
// /v1/backup/log/filenames?context=<group>, EE).
func (c *Client) BackupLogFilenames(ctx context.Context, replicationGroup string) ([]string, error) {
	var out []string
	return out, c.do(ctx, request{method: http.MethodGet, path: "/v1/backup/log/filenames",
		query: url.Values{"context": {replicationGroup}}, eeOnly: true}, &out)
}

// CreateControlDBBackup exports the control DB and returns the path of the zip
// file on the node (POST /v1/backup/createControlDbBackup, EE). The answer is a
// bare string (text/plain), or a JSON string.
func (c *Client) CreateControlDBBackup(ctx context.Context) (string, error) {
	r := request{method: http.MethodPost, path: "/v1/backup/createControlDbBackup", eeOnly: true}
	body, err := c.raw(ctx, r)
	if err != nil {
		return "", err
	}
	s := strings.TrimSpace(string(body))
	if strings.HasPrefix(s, `"`) {
		if err := json.Unmarshal([]byte(s), &s); err != nil {
			return "", c.fail(r, decodeError(err), ErrMalformedResponse)
		}
	}
	if s == "" {
		return "", c.fail(r, "empty response body, expected the backup file path", ErrMalformedResponse)
	}
	return s, nil
}

// restResponse performs a call answered by a RestResponse. A 2xx with an empty
// body yields a zero RestResponse with Success true.
func (c *Client) restResponse(ctx context.Context, r request) (*RestResponse, error) {
	body, err := c.raw(ctx, r)
	if err != nil {
		return nil, err
	}
	out := RestResponse{Success: true}
	if len(bytes.TrimSpace(body)) == 0 {
		return &out, nil
	}
	if err := json.Unmarshal(body, &out); err != nil {
		return nil, c.fail(r, decodeError(err), ErrMalformedResponse)
	}
	return &out, nil
}
