package report

import (
	"bufio"
	"bytes"
	"encoding/json"
	"strings"
)

// Mask replaces a value kept out of the bundle.
const Mask = "******"

// secretWords are the words whose keys hold secrets (Spring Boot's Sanitizer defaults,
// and what Kubernetes configurations name secrets): a key ending in one of them, or
// containing one after a separator, is masked.
var secretWords = []string{"password", "passwd", "secret", "token", "key", "credentials", "credential", "private", "passphrase", "apikey", "auth"}

// SecretKey reports whether a key (a ConfigMap key, a property, an environment
// variable) looks like it holds a secret.
func SecretKey(k string) bool {
	k = strings.ToLower(k)
	for _, w := range secretWords {
		if strings.HasSuffix(k, w) {
			return true
		}
	}
	for _, sep := range []string{".", "_", "-"} {
		for _, w := range []string{"password", "secret", "token", "credentials", "private"} {
			if strings.Contains(k, w+sep) || strings.Contains(k, sep+w) {
				return true
			}
		}
	}
	return strings.Contains(k, "vcap_services")
}

// Redactor keeps secrets out of the bundle: the values it knows (the access token
// kubectl axon uses) wherever they appear, always; and, unless Off (--no-redact),
// the values of keys that look like secrets.
type Redactor struct {
	values []string
	// Off turns off the masking by key name; known values are removed regardless.
	Off bool
}

// NewRedactor is a redactor that removes each of values (empty and very short ones
// are ignored: they would mask unrelated text).
func NewRedactor(values ...string) *Redactor {
	r := &Redactor{}
	for _, v := range values {
		if v = strings.TrimSpace(v); len(v) >= 4 {
			r.values = append(r.values, v)
		}
	}
	return r
}

// Bytes removes the known values from b.
func (r *Redactor) Bytes(b []byte) []byte {
	for _, v := range r.values {
		if bytes.Contains(b, []byte(v)) {
			b = bytes.ReplaceAll(b, []byte(v), []byte(Mask))
		}
	}
	return b
}

// String is Bytes for a string.
func (r *Redactor) String(s string) string { return string(r.Bytes([]byte(s))) }

// Value masks v when key looks secret (unless Off), and removes the known values.
func (r *Redactor) Value(key, v string) string {
	if !r.Off && SecretKey(key) && v != "" {
		return Mask
	}
	return r.String(v)
}

// Properties masks the values of secret-looking keys in a properties or YAML-ish text
// ("key=value", "key: value", "KEY=value" lines), and removes the known values.
func (r *Redactor) Properties(text string) string {
	if r.Off {
		return r.String(text)
	}
	var out strings.Builder
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		line := sc.Text()
		trim := strings.TrimSpace(line)
		if !strings.HasPrefix(trim, "#") && !strings.HasPrefix(trim, "!") {
			if i := strings.IndexAny(trim, "=:"); i > 0 {
				key := strings.TrimSpace(trim[:i])
				if SecretKey(strings.TrimPrefix(key, "export ")) && strings.TrimSpace(trim[i+1:]) != "" {
					lead := line[:strings.Index(line, trim)]
					line = lead + trim[:i+1] + " " + Mask
				}
			}
		}
		out.WriteString(line)
		out.WriteByte('\n')
	}
	if !strings.HasSuffix(text, "\n") {
		return r.String(strings.TrimSuffix(out.String(), "\n"))
	}
	return r.String(out.String())
}

// Env masks /actuator/env again: each property whose key looks secret (Spring Boot
// masks these already, unless its sanitizer was configured otherwise), and the known
// values anywhere. A body that is not the env shape is only stripped of known values.
func (r *Redactor) Env(body []byte) []byte {
	var env struct {
		ActiveProfiles  []string `json:"activeProfiles"`
		PropertySources []struct {
			Name       string                     `json:"name"`
			Properties map[string]json.RawMessage `json:"properties"`
		} `json:"propertySources"`
	}
	if r.Off || json.Unmarshal(body, &env) != nil || env.PropertySources == nil {
		return r.Bytes(body)
	}
	for _, ps := range env.PropertySources {
		for k, raw := range ps.Properties {
			if !SecretKey(k) {
				continue
			}
			var pv map[string]any
			if json.Unmarshal(raw, &pv) != nil {
				continue
			}
			if _, ok := pv["value"]; ok {
				pv["value"] = Mask
			}
			b, _ := json.Marshal(pv)
			ps.Properties[k] = b
		}
	}
	out, err := json.MarshalIndent(env, "", "  ")
	if err != nil {
		return r.Bytes(body)
	}
	return r.Bytes(out)
}
