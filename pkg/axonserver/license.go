package axonserver

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"
)

// LicenseInfo is GET /v1/public/license (Axon Server 4.5 and later: PublicRestController,
// LicenseInfo in AxonIQ/axon-server-se from se-4.5 to se-2023.2.1): the expiry date,
// edition, licensee and features. It carries neither the grace date nor the node and
// context limits, and never the license itself.
type LicenseInfo struct {
	ExpiryDate string   `json:"expiryDate"` // YYYY-MM-DD ("" when none)
	Edition    string   `json:"edition"`
	Licensee   string   `json:"licensee"`
	Features   []string `json:"featureList"`
}

// UnmarshalJSON takes the features as names, or as objects with a name (some
// versions list a FeatureStatus per feature).
func (l *LicenseInfo) UnmarshalJSON(b []byte) error {
	var raw struct {
		ExpiryDate json.RawMessage   `json:"expiryDate"`
		Edition    string            `json:"edition"`
		Licensee   string            `json:"licensee"`
		Features   []json.RawMessage `json:"featureList"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*l = LicenseInfo{Edition: raw.Edition, Licensee: raw.Licensee}
	l.ExpiryDate = dateOf(raw.ExpiryDate)
	for _, f := range raw.Features {
		var s string
		if json.Unmarshal(f, &s) == nil {
			l.Features = append(l.Features, s)
			continue
		}
		var o map[string]any
		if json.Unmarshal(f, &o) == nil {
			for _, k := range []string{"feature", "name"} {
				if s, ok := o[k].(string); ok {
					l.Features = append(l.Features, s)
					break
				}
			}
		}
	}
	return nil
}

// dateOf reads a LocalDate as Jackson writes it: "2025-12-31", or [2025,12,31] with
// dates written as timestamps.
func dateOf(b json.RawMessage) string {
	var s string
	if json.Unmarshal(b, &s) == nil {
		if t, err := time.Parse(time.DateOnly, s); err == nil {
			return t.Format(time.DateOnly)
		}
		return strings.TrimSpace(s)
	}
	var a []int
	if json.Unmarshal(b, &a) == nil && len(a) == 3 {
		return time.Date(a[0], time.Month(a[1]), a[2], 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	}
	return ""
}

// License returns GET /v1/public/license (4.5+; before 4.5 a 404: IsNotFound).
func (c *Client) License(ctx context.Context) (*LicenseInfo, error) {
	var out LicenseInfo
	if err := c.do(ctx, request{method: http.MethodGet, path: "/v1/public/license"}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// MaxBody is the most of an answer a client reads; a longer one is cut there.
const MaxBody = maxBody

// Get returns the body of GET path as it came (at most MaxBody bytes), for callers
// that keep answers rather than read them (kubectl axon report). Errors as for every
// call; a health answer with 503 is returned as a body.
func (c *Client) Get(ctx context.Context, path string) ([]byte, error) {
	r := request{method: http.MethodGet, path: path}
	if path == "/actuator/health" {
		r.okStatus = []int{http.StatusServiceUnavailable}
	}
	return c.raw(ctx, r)
}
