package axonserver

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"syscall"
)

// Axon Server error codes (AxonIQ-ErrorCode header or "[AXONIQ-xxxx]" prefix), as
// ErrorCode.java names them (tag axonserver-se-2023.2.1 for 4.5 and later,
// axonserver-ee-4.4.2 for 4.4).
const (
	CodeAuthTokenMissing = "AXONIQ-1000"
	CodeInvalidToken     = "AXONIQ-1001"
	CodeNoSuchNode       = "AXONIQ-1301"
	CodeContextNotFound  = "AXONIQ-1302"
	CodeNoLeader         = "AXONIQ-2100"
	// CodeNotRunningInCluster: the node is not part of a cluster (yet).
	CodeNotRunningInCluster = "AXONIQ-2101"
	// CodeUpdateInProgress4x: a change to the replication group is still in progress,
	// as Axon Server up to 4.4 says it (HTTP 400). Test with IsUpdateInProgress.
	CodeUpdateInProgress4x = "AXONIQ-2102"
	// CodeUpdateInProgress: the same from 4.5 on (REPLICATION_GROUP_UPDATE_IN_PROGRESS,
	// HTTP 400).
	CodeUpdateInProgress = "AXONIQ-2107"
	// CodeGroupNotFound: no such replication group (4.5+, HTTP 404).
	CodeGroupNotFound      = "AXONIQ-2108"
	CodeInternalContext    = "AXONIQ-2304"
	CodeCannotRemoveLast   = "AXONIQ-2310"
	errorCodeHeader        = "AxonIQ-ErrorCode"
	maxMessageLen          = 300
	invalidTokenMessage    = "Invalid token"
	springNotFoundFallback = "Not Found"
)

// Sentinels; test with errors.Is.
var (
	// ErrNotFound: HTTP 404 (unknown node/context, or an endpoint the server lacks).
	ErrNotFound = errors.New("not found")
	// ErrForbidden: HTTP 403 (missing or invalid token, or insufficient rights).
	ErrForbidden = errors.New("forbidden")
	// ErrInvalidToken: 403 "Invalid token" / AXONIQ-1001.
	ErrInvalidToken = errors.New("invalid access token")
	// ErrNotEnterprise: an Enterprise-only endpoint answered 404 without an Axon
	// error code, i.e. the server is Standard Edition (or pre-4.4 for replication
	// groups).
	ErrNotEnterprise = errors.New("endpoint not available: server is not Axon Server Enterprise (or too old)")
	// ErrMalformedResponse: the body could not be decoded.
	ErrMalformedResponse = errors.New("malformed response")
	// ErrUnreachable: connection refused, reset, timed out, DNS failure.
	ErrUnreachable = errors.New("node unreachable")
	// ErrTLS: certificate or protocol mismatch.
	ErrTLS = errors.New("TLS failure")
)

// Error is a failed call to one node. StatusCode is 0 when no HTTP answer came.
type Error struct {
	Node       string // optional; the node the client was built for
	Method     string
	Path       string // without query
	StatusCode int
	Code       string // AXONIQ-xxxx, from the header or the body
	Message    string // one line
	Err        error  // a sentinel above, or the underlying cause
}

// Error renders one line: "<node>: <METHOD> <path>: [HTTP <status> ][<code> ]<message>".
func (e *Error) Error() string {
	var b strings.Builder
	if e.Node != "" {
		b.WriteString(e.Node)
		b.WriteString(": ")
	}
	b.WriteString(e.Method)
	b.WriteByte(' ')
	b.WriteString(e.Path)
	b.WriteString(": ")
	if e.StatusCode >= 300 {
		fmt.Fprintf(&b, "HTTP %d ", e.StatusCode)
		if e.Code != "" {
			b.WriteString(e.Code)
			b.WriteByte(' ')
		}
	}
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	b.WriteString(msg)
	return b.String()
}

// Unwrap exposes the sentinel/cause.
func (e *Error) Unwrap() error { return e.Err }

// Is matches status-derived sentinels, so errors.Is(err, ErrNotFound) works for
// every 404 whatever Err holds.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrNotFound:
		return e.StatusCode == http.StatusNotFound
	case ErrForbidden:
		return e.StatusCode == http.StatusForbidden
	case ErrInvalidToken:
		return e.Code == CodeInvalidToken ||
			(e.StatusCode == http.StatusForbidden && e.Code == "" && strings.EqualFold(e.Message, invalidTokenMessage))
	}
	return false
}

// IsTransient reports a failure that says nothing about the request itself, so that
// the same request may be sent again: the node (or the proxy in front of it) was
// unreachable, overloaded or restarting (HTTP 429, 502, 503, 504), or no HTTP answer
// came at all (connection refused or reset, a timeout). A request that failed so was
// not accepted.
func IsTransient(err error) bool {
	var e *Error
	if !errors.As(err, &e) {
		return false
	}
	switch e.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	case 0:
		return errors.Is(e.Err, ErrUnreachable)
	}
	return false
}

// IsNotFound reports an HTTP 404.
func IsNotFound(err error) bool { return errors.Is(err, ErrNotFound) }

// IsForbidden reports an HTTP 403.
func IsForbidden(err error) bool { return errors.Is(err, ErrForbidden) }

// IsInvalidToken reports a rejected access token.
func IsInvalidToken(err error) bool { return errors.Is(err, ErrInvalidToken) }

// IsNotEnterprise reports an EE-only endpoint missing on this server.
func IsNotEnterprise(err error) bool { return errors.Is(err, ErrNotEnterprise) }

// HasCode reports whether err is an *Error with the given AXONIQ code.
func HasCode(err error, code string) bool {
	var e *Error
	return errors.As(err, &e) && e.Code == code
}

// IsUpdateInProgress reports Axon Server refusing a replication group change because
// another one is still in progress: AXONIQ-2107 (4.5+) or AXONIQ-2102 (up to 4.4).
// The change is worth retrying once the group's pending change is done.
func IsUpdateInProgress(err error) bool {
	return HasCode(err, CodeUpdateInProgress) || HasCode(err, CodeUpdateInProgress4x)
}

// IsNoLeader reports AXONIQ-2100: the replication group the request needs (the
// group itself, or _admin for a membership change) has no leader now. An election
// usually ends it within seconds; the request was not accepted and may be sent again.
func IsNoLeader(err error) bool { return HasCode(err, CodeNoLeader) }

// IsGroupNotFound reports an unknown replication group: AXONIQ-2108 (4.5+), or up to
// 4.4 an unknown context (AXONIQ-1302), which was the group then.
func IsGroupNotFound(err error) bool {
	return HasCode(err, CodeGroupNotFound) || HasCode(err, CodeContextNotFound)
}

// Explain says in a few words what an Axon Server error code means for the operator,
// "" for codes without advice.
func Explain(err error) string {
	var e *Error
	if !errors.As(err, &e) {
		return ""
	}
	switch e.Code {
	case CodeUpdateInProgress, CodeUpdateInProgress4x:
		return "another change to this replication group is still in progress; retry once it is done (GET /v1/public/replicationgroups: changePending)"
	case CodeGroupNotFound, CodeContextNotFound:
		return "the replication group (or context) does not exist (any more)"
	case CodeNoLeader:
		return "the replication group has no leader now (an election may be in progress)"
	case CodeNotRunningInCluster:
		return "the node is not part of a cluster"
	case CodeNoSuchNode:
		return "the cluster does not know this node"
	case CodeCannotRemoveLast:
		return "a replication group cannot lose its last member"
	}
	return ""
}

var codePrefix = regexp.MustCompile(`^\[(AXONIQ-\d{4})\]\s*`)

// httpError builds an *Error from a non-2xx answer.
func httpError(node, method, path string, resp *http.Response, body []byte) *Error {
	e := &Error{Node: node, Method: method, Path: path, StatusCode: resp.StatusCode,
		Code: strings.TrimSpace(resp.Header.Get(errorCodeHeader))}
	msg := bodyMessage(body)
	if m := codePrefix.FindStringSubmatch(msg); m != nil {
		if e.Code == "" {
			e.Code = m[1]
		}
		msg = msg[len(m[0]):]
	}
	e.Message = oneLine(msg)
	return e
}

// bodyMessage extracts the human message from the shapes Axon Server uses: a
// RestResponse {success,message}, Spring Boot's error JSON {status,error,message},
// a JSON string, or plain text ("[AXONIQ-1301] Node x not found", "Invalid token").
func bodyMessage(body []byte) string {
	s := strings.TrimSpace(string(body))
	if s == "" {
		return ""
	}
	switch s[0] {
	case '{':
		var v struct {
			Message *string `json:"message"`
			Error   string  `json:"error"`
		}
		if json.Unmarshal(body, &v) == nil {
			if v.Message != nil && strings.TrimSpace(*v.Message) != "" && *v.Message != "No message available" {
				return *v.Message
			}
			if v.Error != "" {
				return v.Error
			}
			return ""
		}
	case '"':
		var str string
		if json.Unmarshal(body, &str) == nil {
			return str
		}
	case '<':
		return "" // an HTML error page says nothing the status does not
	}
	return s
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > maxMessageLen {
		s = s[:maxMessageLen] + "…"
	}
	return s
}

// decodeError describes a JSON decoding failure in one line.
func decodeError(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF) || strings.Contains(err.Error(), "unexpected end of JSON input"):
		return "malformed JSON: unexpected end of input"
	case errors.As(err, &syn):
		return fmt.Sprintf("malformed JSON at offset %d: %s", syn.Offset, strings.TrimPrefix(syn.Error(), "json: "))
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "(top level)"
		}
		return fmt.Sprintf("malformed JSON: field %s: got %s, want %s", field, typ.Value, typ.Type)
	}
	return "malformed JSON: " + oneLine(strings.TrimPrefix(err.Error(), "json: "))
}

// transportError turns a failed round trip into a one-line *Error. The message is
// built from the error's kind, never from the request (the URL holds no token
// anyway, the token travels in a header).
func transportError(node, method, path, baseURL string, err error) *Error {
	e := &Error{Node: node, Method: method, Path: path, Err: err}
	target := hostOf(baseURL)
	var (
		unknownAuth x509.UnknownAuthorityError
		hostnameErr x509.HostnameError
		certInvalid x509.CertificateInvalidError
		recordErr   tls.RecordHeaderError
		certVerify  *tls.CertificateVerificationError
		netErr      net.Error
		dnsErr      *net.DNSError
	)
	msg := oneLine(unwrapURLError(err).Error())
	switch {
	case errors.As(err, &unknownAuth) || errors.As(err, &certVerify) && errors.As(certVerify.Err, &unknownAuth):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("TLS: certificate of %s is signed by an unknown authority; pass --axon-ca-file=<CA bundle> (or, knowingly, --insecure-skip-axon-tls-verify)", target)
	case errors.As(err, &hostnameErr):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("TLS: certificate of %s is not valid for this host name (%s); connect by a name the certificate lists, or pass --insecure-skip-axon-tls-verify", target, oneLine(hostnameErr.Error()))
	case errors.As(err, &certInvalid):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("TLS: certificate of %s is invalid (%s); check --axon-ca-file", target, oneLine(certInvalid.Error()))
	case errors.As(err, &recordErr) || strings.Contains(msg, "server gave HTTP response to HTTPS client") || strings.Contains(msg, "first record does not look like a TLS handshake"):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("TLS: %s answers plain HTTP, not HTTPS; use the http scheme for this node (e.g. an http:// --axon-url)", target)
	case isHTTPToTLS(err, msg):
		e.Err = ErrTLS
		e.Message = fmt.Sprintf("%s expects HTTPS (TLS) but was spoken to in plain HTTP; use the https scheme (e.g. an https:// --axon-url) with --axon-ca-file", target)
	case errors.Is(err, syscall.ECONNREFUSED):
		e.Err = ErrUnreachable
		e.Message = fmt.Sprintf("connection refused by %s: is Axon Server running and listening on that port?", target)
	case errors.As(err, &dnsErr):
		e.Err = ErrUnreachable
		e.Message = fmt.Sprintf("cannot resolve %s: %s", dnsErr.Name, dnsErr.Err)
	case errors.Is(err, os.ErrDeadlineExceeded) || errors.As(err, &netErr) && netErr.Timeout():
		e.Err = ErrUnreachable
		e.Message = fmt.Sprintf("timed out talking to %s", target)
	case errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
		e.Err = ErrUnreachable
		e.Message = fmt.Sprintf("connection to %s closed before an answer (%s); if the node serves HTTPS, use the https scheme", target, msg)
	default:
		e.Message = msg
	}
	return e
}

// isHTTPToTLS: a TLS server spoken to in plain HTTP answers a 400 (Go's servers)
// or closes the connection; Java's Tomcat closes, or answers garbage that Go
// reports as a malformed HTTP response.
func isHTTPToTLS(err error, msg string) bool {
	return strings.Contains(msg, "malformed HTTP response") || strings.Contains(msg, "malformed HTTP status code")
}

func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func hostOf(base string) string {
	u, err := url.Parse(base)
	if err != nil || u.Host == "" {
		return base
	}
	return u.Scheme + "://" + u.Host
}
