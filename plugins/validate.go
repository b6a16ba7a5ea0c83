// Package plugins holds the krew plugin manifest of kubectl-axon (axon.yaml)
// and an offline validator for it.
//
// The validator implements the rules of krew's own checks, without
// depending on sigs.k8s.io/krew (which is not served by the module proxy):
//
//   - structural validation, as in krew's internal/index/validation
//     (ValidatePlugin, validatePlatform, validateFiles, validateSelector);
//   - the checks of krew's cmd/validate-krew-manifest: manifest file
//     extension, plugin name from the file name, every platform selector
//     matches a supported os/arch, no os/arch matched by two platforms,
//     and the line-length warnings for the descriptions;
//   - the install-time checks krew runs when it installs from an archive
//     (internal/installation, internal/download): sha256 of the archive,
//     clean "to" paths, "from" patterns that match archive entries, the bin
//     present after the file operations, and a LICENSE file installed.
//
// On top of that, Policy adds the rules of this project (all six platforms,
// https URIs, .exe on Windows, LICENSE shipped, ...).
package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Constants of krew (pkg/constants).
const (
	APIVersion        = "krew.googlecontainertools.github.com/v1alpha2"
	Kind              = "Plugin"
	ManifestExtension = ".yaml"
)

// Plugin is a krew plugin manifest (krew pkg/index/types.go).
type Plugin struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Metadata   Metadata `json:"metadata"`
	Spec       Spec     `json:"spec"`
}

// Metadata is the subset of ObjectMeta a manifest uses.
type Metadata struct {
	Name string `json:"name"`
}

// Spec is the plugin specification.
type Spec struct {
	Version          string     `json:"version,omitempty"`
	ShortDescription string     `json:"shortDescription,omitempty"`
	Description      string     `json:"description,omitempty"`
	Caveats          string     `json:"caveats,omitempty"`
	Homepage         string     `json:"homepage,omitempty"`
	Platforms        []Platform `json:"platforms,omitempty"`
}

// Platform describes the installation on the platforms its selector matches.
type Platform struct {
	URI      string          `json:"uri,omitempty"`
	Sha256   string          `json:"sha256,omitempty"`
	Selector *LabelSelector  `json:"selector,omitempty"`
	Files    []FileOperation `json:"files"`
	Bin      string          `json:"bin"`
}

// FileOperation copies files matching From in the archive to To in the
// installation directory.
type FileOperation struct {
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

// LabelSelector is the Kubernetes label selector (metav1.LabelSelector).
// A nil MatchLabels map and an empty one are different for krew, hence the
// pointer-free map that keeps the distinction (yaml "matchLabels: {}" gives
// an empty non-nil map).
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorRequirement is one match expression.
type LabelSelectorRequirement struct {
	Key      string   `json:"key"`
	Operator string   `json:"operator"`
	Values   []string `json:"values,omitempty"`
}

// OSArch is a platform krew can install on.
type OSArch struct{ OS, Arch string }

func (p OSArch) String() string { return p.OS + "/" + p.Arch }

// SupportedPlatforms is the list of os/arch pairs validate-krew-manifest
// checks selectors against (allPlatforms in cmd/validate-krew-manifest).
var SupportedPlatforms = []OSArch{
	{"windows", "386"}, {"windows", "amd64"}, {"windows", "arm64"},
	{"linux", "386"}, {"linux", "amd64"}, {"linux", "arm"}, {"linux", "arm64"}, {"linux", "ppc64le"},
	{"darwin", "386"}, {"darwin", "amd64"}, {"darwin", "arm64"},
}

// RequiredPlatforms are the platforms kubectl-axon ships for (project policy).
var RequiredPlatforms = []OSArch{
	{"linux", "amd64"}, {"linux", "arm64"},
	{"darwin", "amd64"}, {"darwin", "arm64"},
	{"windows", "amd64"}, {"windows", "arm64"},
}

var (
	safeNameRE = regexp.MustCompile(`^[\w-]+$`)
	sha256RE   = regexp.MustCompile(`^[a-f0-9]{64}$`)
	// Windows reserved device names; krew refuses them as plugin names.
	windowsReserved = []string{"CON", "PRN", "AUX", "NUL",
		"COM1", "COM2", "COM3", "COM4", "COM5", "COM6", "COM7", "COM8", "COM9",
		"LPT1", "LPT2", "LPT3", "LPT4", "LPT5", "LPT6", "LPT7", "LPT8", "LPT9"}
)

// Load reads a manifest. Like krew, unknown fields are ignored; use
// LoadStrict to reject them.
func Load(path string) (*Plugin, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return Parse(b)
}

// Parse decodes a manifest.
func Parse(b []byte) (*Plugin, error) {
	var p Plugin
	if err := yaml.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("failed to parse manifest: %w", err)
	}
	return &p, nil
}

// ParseStrict decodes a manifest and fails on unknown or duplicate fields
// (catches typos such as "sha265" that krew would silently ignore).
func ParseStrict(b []byte) (*Plugin, error) {
	var p Plugin
	if err := yaml.UnmarshalStrict(b, &p); err != nil {
		return nil, fmt.Errorf("failed to parse manifest strictly: %w", err)
	}
	return &p, nil
}

// IsSafePluginName reports whether krew accepts name as a plugin name.
func IsSafePluginName(name string) bool {
	if !safeNameRE.MatchString(name) {
		return false
	}
	for _, r := range windowsReserved {
		if strings.EqualFold(r, name) {
			return false
		}
	}
	return true
}

// ParseVersion checks a version the way krew does: a leading "v", then a
// semantic version MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD] without
// zero-prefixed numbers (k8s.io/apimachinery/pkg/util/version.ParseSemantic).
func ParseVersion(v string) error {
	if !strings.HasPrefix(v, "v") {
		return fmt.Errorf("version string %q not starting with 'v'", v)
	}
	m := semverRE.FindStringSubmatch(v)
	if m == nil {
		return fmt.Errorf("version %q is not a semantic version (vMAJOR.MINOR.PATCH[-PRE][+BUILD])", v)
	}
	for _, n := range m[1:4] {
		if len(n) > 1 && n[0] == '0' {
			return fmt.Errorf("illegal zero-prefixed version component %q in %q", n, v)
		}
	}
	if m[4] != "" {
		for _, id := range strings.Split(m[4], ".") {
			if _, err := strconv.ParseUint(id, 10, 0); err == nil && len(id) > 1 && id[0] == '0' {
				return fmt.Errorf("illegal zero-prefixed version component %q in %q", id, v)
			}
		}
	}
	return nil
}

var semverRE = regexp.MustCompile(`^v([0-9]+)\.([0-9]+)\.([0-9]+)` +
	`(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$`)

// ValidatePlugin is krew's structural validation of a manifest for the
// plugin called name (internal/index/validation.ValidatePlugin). It returns
// every problem found, joined, rather than only the first one.
func ValidatePlugin(name string, p *Plugin) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if p.APIVersion != APIVersion {
		add("apiVersion %q is not supported, want %q", p.APIVersion, APIVersion)
	}
	if p.Kind != Kind {
		add("kind %q is not supported, want %q", p.Kind, Kind)
	}
	if !IsSafePluginName(name) {
		add("plugin name %q is not allowed, must match %s and not be a Windows reserved name", name, safeNameRE)
	}
	if p.Metadata.Name != name {
		add("plugin should be named %q, not %q", name, p.Metadata.Name)
	}
	if p.Spec.ShortDescription == "" {
		add("should have a short description")
	}
	if strings.ContainsAny(p.Spec.ShortDescription, "\r\n") {
		add("should not have line breaks in short description")
	}
	if len(p.Spec.Platforms) == 0 {
		add("should have a platform specified")
	}
	if p.Spec.Version == "" {
		add("should have a version specified")
	} else if err := ParseVersion(p.Spec.Version); err != nil {
		add("failed to parse plugin version: %w", err)
	}
	for i, pl := range p.Spec.Platforms {
		if err := validatePlatform(pl); err != nil {
			add("spec.platforms[%d] is badly constructed: %w", i, err)
		}
	}
	return errors.Join(errs...)
}

func validatePlatform(p Platform) error {
	var errs []error
	if p.URI == "" {
		errs = append(errs, errors.New("`uri` has to be set"))
	}
	if p.Sha256 == "" {
		errs = append(errs, errors.New("`sha256` sum has to be set"))
	} else if !sha256RE.MatchString(p.Sha256) {
		errs = append(errs, fmt.Errorf("`sha256` value %s is not valid, must match pattern %s", p.Sha256, sha256RE))
	}
	if p.Bin == "" {
		errs = append(errs, errors.New("`bin` has to be set"))
	}
	if err := validateFiles(p.Files); err != nil {
		errs = append(errs, fmt.Errorf("`files` is invalid: %w", err))
	}
	if err := validateSelector(p.Selector); err != nil {
		errs = append(errs, fmt.Errorf("invalid platform selector: %w", err))
	}
	return errors.Join(errs...)
}

// validateFiles: files may be omitted (krew then copies "*" to "."), but
// not empty, and every operation needs from and to.
func validateFiles(fops []FileOperation) error {
	if fops == nil {
		return nil
	}
	if len(fops) == 0 {
		return errors.New("`files` has to be unspecified or non-empty")
	}
	for i, op := range fops {
		if op.From == "" {
			return fmt.Errorf("files[%d]: `from` field has to be set", i)
		}
		if op.To == "" {
			return fmt.Errorf("files[%d]: `to` field has to be set", i)
		}
	}
	return nil
}

// validateSelector: a selector must be present, non-empty, use only the
// keys os and arch, and be convertible to a label selector.
func validateSelector(sel *LabelSelector) error {
	if sel == nil {
		return errors.New("nil selector is not supported")
	}
	if sel.MatchLabels == nil && len(sel.MatchExpressions) == 0 {
		return errors.New("empty selector is not supported")
	}
	var keys []string
	for k := range sel.MatchLabels {
		keys = append(keys, k)
	}
	for _, e := range sel.MatchExpressions {
		keys = append(keys, e.Key)
	}
	for _, k := range keys {
		if k != "os" && k != "arch" {
			return fmt.Errorf("key %q not supported", k)
		}
	}
	if sel.MatchLabels != nil && len(sel.MatchLabels) == 0 {
		return errors.New("`matchLabels` specified but empty")
	}
	if sel.MatchExpressions != nil && len(sel.MatchExpressions) == 0 {
		return errors.New("`matchExpressions` specified but empty")
	}
	// What metav1.LabelSelectorAsSelector rejects (validate-krew-manifest
	// would then match no platform).
	for _, e := range sel.MatchExpressions {
		switch e.Operator {
		case "In", "NotIn":
			if len(e.Values) == 0 {
				return fmt.Errorf("operator %s for key %q needs values", e.Operator, e.Key)
			}
		case "Exists", "DoesNotExist":
			if len(e.Values) != 0 {
				return fmt.Errorf("operator %s for key %q takes no values", e.Operator, e.Key)
			}
		default:
			return fmt.Errorf("operator %q for key %q is not a valid selector operator", e.Operator, e.Key)
		}
	}
	return nil
}

// Matches reports whether the selector selects the labels os and arch of
// env (label selector semantics: all matchLabels and all expressions).
func (sel *LabelSelector) Matches(env OSArch) bool {
	if sel == nil {
		return false
	}
	labels := map[string]string{"os": env.OS, "arch": env.Arch}
	for k, v := range sel.MatchLabels {
		if labels[k] != v {
			return false
		}
	}
	for _, e := range sel.MatchExpressions {
		v, ok := labels[e.Key]
		switch e.Operator {
		case "In":
			if !ok || !slices.Contains(e.Values, v) {
				return false
			}
		case "NotIn":
			if ok && slices.Contains(e.Values, v) {
				return false
			}
		case "Exists":
			if !ok {
				return false
			}
		case "DoesNotExist":
			if ok {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// ValidateManifest runs what krew's cmd/validate-krew-manifest checks
// before it installs: the file extension, the plugin name taken from the
// file name, structural validation, every platform matching a supported
// os/arch, and no os/arch matched by more than one platform.
func ValidateManifest(path string, p *Plugin) error {
	base := filepath.Base(path)
	if ext := filepath.Ext(base); ext != ManifestExtension {
		return fmt.Errorf("expected manifest extension %q but found %q", ManifestExtension, ext)
	}
	name := strings.TrimSuffix(base, ManifestExtension)
	if err := ValidatePlugin(name, p); err != nil {
		return fmt.Errorf("plugin validation error: %w", err)
	}
	var errs []error
	for i, pl := range p.Spec.Platforms {
		if len(MatchingPlatforms(pl.Selector)) == 0 {
			errs = append(errs, fmt.Errorf("spec.platforms[%d]'s selector doesn't match any supported platform", i))
		}
	}
	for _, env := range SupportedPlatforms {
		var idx []int
		for i, pl := range p.Spec.Platforms {
			if pl.Selector.Matches(env) {
				idx = append(idx, i)
			}
		}
		if len(idx) > 1 {
			errs = append(errs, fmt.Errorf("multiple spec.platforms (at indexes %v) have overlapping selectors that select %s", idx, env))
		}
	}
	return errors.Join(errs...)
}

// MatchingPlatforms returns the supported platforms the selector selects.
func MatchingPlatforms(sel *LabelSelector) []OSArch {
	var out []OSArch
	for _, env := range SupportedPlatforms {
		if sel.Matches(env) {
			out = append(out, env)
		}
	}
	return out
}

// Line lengths validate-krew-manifest warns about. Lines longer than the
// limit are tolerated when they are a single word (e.g. a URL).
const (
	MaxShortDescriptionLine = 70
	MaxDescriptionLine      = 80
	MaxCaveatsLine          = 80
)

// Lint returns validate-krew-manifest's warnings (line lengths) as errors.
func Lint(p *Plugin) error {
	var errs []error
	for _, f := range []struct {
		field string
		s     string
		max   int
	}{
		{"shortDescription", p.Spec.ShortDescription, MaxShortDescriptionLine},
		{"description", p.Spec.Description, MaxDescriptionLine},
		{"caveats", p.Spec.Caveats, MaxCaveatsLine},
	} {
		for _, line := range strings.Split(f.s, "\n") {
			if len(line) > f.max && strings.Contains(strings.TrimSpace(line), " ") {
				errs = append(errs, fmt.Errorf("line length in `%s` exceeds %d characters: %q", f.field, f.max, line))
			}
		}
	}
	return errors.Join(errs...)
}

// Policy checks the rules of this project beyond krew's: homepage and
// descriptions set, https URIs named after the platform, the binary
// kubectl-axon (.exe on Windows) and LICENSE installed, exactly one
// platform per required os/arch and nothing else.
func Policy(p *Plugin) error {
	var errs []error
	add := func(format string, a ...any) { errs = append(errs, fmt.Errorf(format, a...)) }

	if !strings.HasPrefix(p.Spec.Homepage, "https://") {
		add("homepage %q must be an https URL", p.Spec.Homepage)
	}
	if strings.TrimSpace(p.Spec.Description) == "" {
		add("description must be set")
	}
	if strings.TrimSpace(p.Spec.Caveats) == "" {
		add("caveats must be set (RBAC requirements)")
	}
	covered := map[OSArch]int{}
	for i, pl := range p.Spec.Platforms {
		envs := MatchingPlatforms(pl.Selector)
		if len(envs) != 1 {
			add("spec.platforms[%d]: selector must select exactly one os/arch, selects %v", i, envs)
			continue
		}
		env := envs[0]
		covered[env]++
		if !slices.Contains(RequiredPlatforms, env) {
			add("spec.platforms[%d]: %s is not a platform kubectl-axon is built for", i, env)
		}
		if !strings.HasPrefix(pl.URI, "https://") {
			add("spec.platforms[%d]: uri %q must use https", i, pl.URI)
		}
		if want := "_" + env.OS + "_" + env.Arch + ".tar.gz"; !strings.HasSuffix(pl.URI, want) {
			add("spec.platforms[%d]: uri %q must end in %q", i, pl.URI, want)
		}
		bin := "kubectl-axon"
		if env.OS == "windows" {
			bin += ".exe"
		}
		if pl.Bin != bin {
			add("spec.platforms[%d]: bin must be %q on %s, is %q", i, bin, env.OS, pl.Bin)
		}
		var from []string
		for _, f := range pl.Files {
			from = append(from, f.From)
		}
		if !slices.Contains(from, bin) {
			add("spec.platforms[%d]: files must install %q", i, bin)
		}
		if !slices.Contains(from, "LICENSE") {
			add("spec.platforms[%d]: files must install LICENSE", i)
		}
	}
	for _, env := range RequiredPlatforms {
		if covered[env] == 0 {
			add("no platform for %s", env)
		}
	}
	return errors.Join(errs...)
}
