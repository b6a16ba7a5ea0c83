package axonserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
)

// Health statuses Axon Server reports, most severe first. WARN is Axon's own.
const (
	StatusDown         = "DOWN"
	StatusOutOfService = "OUT_OF_SERVICE"
	StatusWarn         = "WARN"
	StatusUp           = "UP"
	StatusUnknown      = "UNKNOWN"
)

// Health is GET /actuator/health, normalized: Spring Boot 2.3+ (Axon 4.5+) nests
// indicators under "components", older versions (Axon ≤4.4) under "details". Both
// end up in Components; a leaf indicator's own key/values (e.g. "raft":
// {"default.leader": "axonserver-1"}) end up in Details.
type Health struct {
	Status     string             `json:"status"`
	Components map[string]*Health `json:"components,omitempty"`
	Details    map[string]any     `json:"details,omitempty"`
}

// UnmarshalJSON decodes both the "components" and the "details" shape.
func (h *Health) UnmarshalJSON(b []byte) error {
	var raw struct {
		Status     string                     `json:"status"`
		Components map[string]json.RawMessage `json:"components"`
		Details    map[string]json.RawMessage `json:"details"`
	}
	if err := json.Unmarshal(b, &raw); err != nil {
		return err
	}
	*h = Health{Status: raw.Status}
	comps := raw.Components
	details := raw.Details
	if comps == nil && looksLikeComponents(details) {
		comps, details = details, nil
	}
	if len(comps) > 0 {
		h.Components = make(map[string]*Health, len(comps))
		for name, c := range comps {
			var sub Health
			if err := json.Unmarshal(c, &sub); err != nil {
				return fmt.Errorf("component %q: %w", name, err)
			}
			h.Components[name] = &sub
		}
	}
	if len(details) > 0 {
		h.Details = make(map[string]any, len(details))
		for k, v := range details {
			x, err := detailValue(v)
			if err != nil {
				return fmt.Errorf("detail %q: %w", k, err)
			}
			h.Details[k] = x
		}
	}
	return nil
}

// detailValue decodes one detail as encoding/json decodes it into an any: a
// string of printable ASCII without escapes (most details) and the literals
// directly, anything else through encoding/json. v is valid JSON.
func detailValue(v json.RawMessage) (any, error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return nil, nil
	}
	if s, ok := plainString(v); ok {
		return s, nil
	}
	var x any
	err := json.Unmarshal(v, &x)
	return x, err
}

// plainString returns the text of a JSON string whose bytes are printable ASCII
// without escapes; ok is false for any other value.
func plainString(v []byte) (string, bool) {
	if len(v) < 2 || v[0] != '"' || v[len(v)-1] != '"' {
		return "", false
	}
	for _, c := range v[1 : len(v)-1] {
		if c < ' ' || c > '~' || c == '\\' || c == '"' {
			return "", false
		}
	}
	return string(v[1 : len(v)-1]), true
}

// looksLikeComponents: in the ≤4.4 shape the top-level "details" maps indicator
// names to {"status": ..., "details": ...} objects; a leaf's details are plain
// values. Every entry must be an object with a string status.
func looksLikeComponents(m map[string]json.RawMessage) bool {
	if len(m) == 0 {
		return false
	}
	for _, v := range m {
		if v = bytes.TrimLeft(v, " \t\r\n"); len(v) == 0 || v[0] != '{' {
			return false // a string, number, list, bool or null has no status
		}
		var probe struct {
			Status *string `json:"status"`
		}
		if json.Unmarshal(v, &probe) != nil || probe.Status == nil {
			return false
		}
	}
	return true
}

// Component returns the named indicator (e.g. "raft", "cluster"), or nil.
func (h *Health) Component(name string) *Health {
	if h == nil {
		return nil
	}
	return h.Components[name]
}

// Detail returns a detail value as a string ("" if absent).
func (h *Health) Detail(key string) string {
	if h == nil {
		return ""
	}
	v, ok := h.Details[key]
	if !ok || v == nil {
		return ""
	}
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	}
	return fmt.Sprint(v)
}

// DetailKeys returns the detail keys, sorted.
func (h *Health) DetailKeys() []string {
	if h == nil {
		return nil
	}
	keys := make([]string, 0, len(h.Details))
	for k := range h.Details {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Severity orders statuses as Axon Server aggregates them: DOWN (4) >
// OUT_OF_SERVICE (3) > WARN (2) > UP (1) > UNKNOWN/other (0).
func Severity(status string) int {
	switch status {
	case StatusDown:
		return 4
	case StatusOutOfService:
		return 3
	case StatusWarn:
		return 2
	case StatusUp:
		return 1
	}
	return 0
}
