package axonserver

import (
	"net/http"
	"net/http/httputil"
)

// DumpRequest renders a request for debug logs with the access token and any
// Authorization header replaced by [REDACTED]. The body is not included. The
// request itself is not modified.
func DumpRequest(r *http.Request) ([]byte, error) {
	c := r.Clone(r.Context())
	c.Body = nil
	for _, h := range []string{TokenHeader, "Authorization", "Proxy-Authorization"} {
		if c.Header.Get(h) != "" {
			c.Header.Set(h, redacted)
		}
	}
	return httputil.DumpRequestOut(c, false)
}
