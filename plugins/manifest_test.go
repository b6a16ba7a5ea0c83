package plugins

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"text/template"
)

// resolve finds a path given relative to the package directory or, as
// make and hack/dist.sh pass it, to the module root.
func resolve(t *testing.T, p string) string {
	t.Helper()
	if filepath.IsAbs(p) {
		return p
	}
	if _, err := os.Stat(p); err == nil {
		return p
	}
	if _, err := os.Stat(filepath.Join("..", p)); err == nil {
		return filepath.Join("..", p)
	}
	return p
}

// TestManifest validates plugins/axon.yaml, or the manifest named by
// KREW_MANIFEST (e.g. dist/axon.yaml), with krew's rules and the project
// policy. With KREW_ARCHIVES set to the directory holding the archives the
// manifest points to, it also installs every platform from its archive the
// way krew does and checks the archive holds exactly the binary and LICENSE.
func TestManifest(t *testing.T) {
	file := "axon.yaml"
	if env := os.Getenv("KREW_MANIFEST"); env != "" {
		file = resolve(t, env)
	}
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("manifest %s", file)
	p, err := ParseStrict(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidateManifest(file, p); err != nil {
		t.Errorf("krew validation: %v", err)
	}
	if err := Lint(p); err != nil {
		t.Errorf("krew warnings: %v", err)
	}
	if err := Policy(p); err != nil {
		t.Errorf("project policy: %v", err)
	}
	if want := os.Getenv("KREW_VERSION"); want != "" && p.Spec.Version != want {
		t.Errorf("spec.version = %q, want %q", p.Spec.Version, want)
	}

	dir := os.Getenv("KREW_ARCHIVES")
	if dir == "" {
		t.Log("KREW_ARCHIVES not set, archives not checked")
		return
	}
	dir = resolve(t, dir)
	for _, pl := range p.Spec.Platforms {
		envs := MatchingPlatforms(pl.Selector)
		t.Run(fmt.Sprint(envs), func(t *testing.T) {
			archive := filepath.Join(dir, path.Base(pl.URI))
			entries, installed, err := InstallFile(pl, archive)
			if err != nil {
				t.Fatalf("install from %s: %v", archive, err)
			}
			want := []string{"LICENSE", pl.Bin}
			slices.Sort(want)
			if !slices.Equal(entries, want) {
				t.Errorf("%s holds %v, want exactly %v", archive, entries, want)
			}
			t.Logf("%s: installs %v", path.Base(archive), installed)
		})
	}
}

// renderKrewTemplate renders ../.krew.yaml the way krew-release-bot does
// (text/template with .TagName and addURIAndSha, which expands the URL
// template and emits "uri: ...\n    sha256: ..."), with a fake checksum.
func renderKrewTemplate(t *testing.T, tag string) []byte {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("..", ".krew.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := template.New(".krew.yaml").Funcs(template.FuncMap{
		"addURIAndSha": func(url, tag string) (string, error) {
			var buf bytes.Buffer
			u, err := template.New("url").Parse(url)
			if err != nil {
				return "", err
			}
			if err := u.Execute(&buf, struct{ TagName string }{tag}); err != nil {
				return "", err
			}
			sum := sha256.Sum256(buf.Bytes())
			return fmt.Sprintf("uri: %s\n    sha256: %s", buf.String(), hex.EncodeToString(sum[:])), nil
		},
	}).Parse(string(src))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := tmpl.Execute(&out, struct{ TagName string }{tag}); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestKrewReleaseTemplate checks that .krew.yaml renders to a valid
// manifest and says the same as plugins/axon.yaml but for the checksums.
func TestKrewReleaseTemplate(t *testing.T) {
	committed, err := Load("axon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out := renderKrewTemplate(t, committed.Spec.Version)
	rendered, err := ParseStrict(out)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if err := ValidateManifest("axon.yaml", rendered); err != nil {
		t.Errorf("rendered .krew.yaml: %v", err)
	}
	if err := Lint(rendered); err != nil {
		t.Errorf("rendered .krew.yaml: %v", err)
	}
	if err := Policy(rendered); err != nil {
		t.Errorf("rendered .krew.yaml: %v", err)
	}
	for i := range rendered.Spec.Platforms {
		rendered.Spec.Platforms[i].Sha256 = ""
	}
	for i := range committed.Spec.Platforms {
		committed.Spec.Platforms[i].Sha256 = ""
	}
	if !reflect.DeepEqual(rendered, committed) {
		t.Errorf(".krew.yaml and plugins/axon.yaml differ:\nrendered:  %+v\ncommitted: %+v", rendered, committed)
	}
}

// base returns a fresh copy of the committed manifest, which must be valid.
func base(t *testing.T) *Plugin {
	t.Helper()
	p, err := Load("axon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestValidatorRejects breaks a valid manifest in one way per case and
// expects the validator to name the problem.
func TestValidatorRejects(t *testing.T) {
	const file = "axon.yaml"
	all := func(file string, p *Plugin) error {
		if err := ValidateManifest(file, p); err != nil {
			return err
		}
		if err := Lint(p); err != nil {
			return err
		}
		return Policy(p)
	}
	sha := strings.Repeat("ab", 32)
	cases := []struct {
		name   string
		file   string // manifest file name, default axon.yaml
		break_ func(p *Plugin)
		want   string
	}{
		// krew: internal/index/validation.ValidatePlugin
		{"apiVersion", "", func(p *Plugin) { p.APIVersion = "krew.googlecontainertools.github.com/v1alpha1" }, "apiVersion"},
		{"kind", "", func(p *Plugin) { p.Kind = "Plugins" }, "kind"},
		{"name differs from file", "", func(p *Plugin) { p.Metadata.Name = "axon-server" }, `should be named "axon"`},
		{"unsafe name", "ax.on.yaml", func(p *Plugin) { p.Metadata.Name = "ax.on" }, "not allowed"},
		{"windows reserved name", "con.yaml", func(p *Plugin) { p.Metadata.Name = "con" }, "not allowed"},
		{"no short description", "", func(p *Plugin) { p.Spec.ShortDescription = "" }, "short description"},
		{"multi-line short description", "", func(p *Plugin) { p.Spec.ShortDescription = "Day-2 operations\nfor Axon" }, "line breaks"},
		{"no platforms", "", func(p *Plugin) { p.Spec.Platforms = nil }, "platform specified"},
		{"no version", "", func(p *Plugin) { p.Spec.Version = "" }, "version specified"},
		{"version without v", "", func(p *Plugin) { p.Spec.Version = "0.1.0" }, "not starting with 'v'"},
		{"version not semver", "", func(p *Plugin) { p.Spec.Version = "v0.1" }, "semantic version"},
		{"version zero-prefixed", "", func(p *Plugin) { p.Spec.Version = "v0.01.0" }, "zero-prefixed"},
		{"version git hash", "", func(p *Plugin) { p.Spec.Version = "v72374ea-dirty" }, "semantic version"},
		// krew: validatePlatform
		{"no uri", "", func(p *Plugin) { p.Spec.Platforms[0].URI = "" }, "`uri` has to be set"},
		{"no sha256", "", func(p *Plugin) { p.Spec.Platforms[1].Sha256 = "" }, "`sha256` sum has to be set"},
		{"sha256 upper case", "", func(p *Plugin) { p.Spec.Platforms[2].Sha256 = strings.ToUpper(sha) }, "not valid"},
		{"sha256 short", "", func(p *Plugin) { p.Spec.Platforms[2].Sha256 = sha[:63] }, "not valid"},
		{"no bin", "", func(p *Plugin) { p.Spec.Platforms[3].Bin = "" }, "`bin` has to be set"},
		// krew: validateFiles
		{"empty files", "", func(p *Plugin) { p.Spec.Platforms[0].Files = []FileOperation{} }, "unspecified or non-empty"},
		{"files without from", "", func(p *Plugin) { p.Spec.Platforms[0].Files[0].From = "" }, "`from` field"},
		{"files without to", "", func(p *Plugin) { p.Spec.Platforms[0].Files[1].To = "" }, "`to` field"},
		// krew: validateSelector
		{"nil selector", "", func(p *Plugin) { p.Spec.Platforms[0].Selector = nil }, "nil selector"},
		{"empty selector", "", func(p *Plugin) { p.Spec.Platforms[0].Selector = &LabelSelector{} }, "empty selector"},
		{"empty matchLabels", "", func(p *Plugin) {
			p.Spec.Platforms[0].Selector = &LabelSelector{MatchLabels: map[string]string{},
				MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "In", Values: []string{"linux"}}}}
		}, "`matchLabels` specified but empty"},
		{"unsupported key", "", func(p *Plugin) { p.Spec.Platforms[0].Selector.MatchLabels["variant"] = "musl" }, `key "variant" not supported`},
		{"bad operator", "", func(p *Plugin) {
			p.Spec.Platforms[0].Selector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "Equals", Values: []string{"linux"}}}}
		}, "not a valid selector operator"},
		// krew: cmd/validate-krew-manifest
		{"file extension", "axon.yml", func(p *Plugin) {}, "manifest extension"},
		{"selector matches nothing", "", func(p *Plugin) { p.Spec.Platforms[0].Selector.MatchLabels["os"] = "plan9" }, "doesn't match any supported platform"},
		{"overlapping selectors", "", func(p *Plugin) { p.Spec.Platforms[1].Selector.MatchLabels["arch"] = "amd64" }, "overlapping selectors that select linux/amd64"},
		{"overlap through expressions", "", func(p *Plugin) {
			p.Spec.Platforms[0].Selector = &LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "In", Values: []string{"linux", "darwin"}}}}
		}, "overlapping selectors"},
		{"short description too long", "", func(p *Plugin) { p.Spec.ShortDescription = strings.Repeat("word ", 15) }, "`shortDescription` exceeds 70"},
		{"description line too long", "", func(p *Plugin) { p.Spec.Description += strings.Repeat("word ", 17) + "\n" }, "`description` exceeds 80"},
		{"caveats line too long", "", func(p *Plugin) { p.Spec.Caveats += strings.Repeat("word ", 17) + "\n" }, "`caveats` exceeds 80"},
		// krew's install (needs an archive; see TestInstall) and project policy
		{"missing platform", "", func(p *Plugin) { p.Spec.Platforms = p.Spec.Platforms[:5] }, "no platform for windows/arm64"},
		{"extra platform", "", func(p *Plugin) {
			extra := p.Spec.Platforms[0]
			extra.Selector = &LabelSelector{MatchLabels: map[string]string{"os": "linux", "arch": "386"}}
			extra.URI = strings.Replace(extra.URI, "amd64", "386", 1)
			p.Spec.Platforms = append(p.Spec.Platforms, extra)
		}, "not a platform kubectl-axon is built for"},
		{"selector for several platforms", "", func(p *Plugin) {
			delete(p.Spec.Platforms[0].Selector.MatchLabels, "arch")
			p.Spec.Platforms = slices.Delete(p.Spec.Platforms, 1, 2)
		}, "exactly one os/arch"},
		{"http uri", "", func(p *Plugin) {
			p.Spec.Platforms[0].URI = strings.Replace(p.Spec.Platforms[0].URI, "https://", "http://", 1)
		}, "must use https"},
		{"uri of other platform", "", func(p *Plugin) {
			p.Spec.Platforms[0].URI = strings.Replace(p.Spec.Platforms[0].URI, "amd64", "arm64", 1)
		}, "must end in"},
		{"windows bin without .exe", "", func(p *Plugin) {
			for i, pl := range p.Spec.Platforms {
				if pl.Selector.MatchLabels["os"] == "windows" {
					p.Spec.Platforms[i].Bin = "kubectl-axon"
				}
			}
		}, `bin must be "kubectl-axon.exe"`},
		{"LICENSE not installed", "", func(p *Plugin) { p.Spec.Platforms[0].Files = p.Spec.Platforms[0].Files[:1] }, "files must install LICENSE"},
		{"no homepage", "", func(p *Plugin) { p.Spec.Homepage = "" }, "homepage"},
		{"no caveats", "", func(p *Plugin) { p.Spec.Caveats = "" }, "caveats must be set"},
	}

	if err := all(file, base(t)); err != nil {
		t.Fatalf("base manifest is not valid: %v", err)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := base(t)
			tc.break_(p)
			f := file
			if tc.file != "" {
				f = tc.file
			}
			err := all(f, p)
			if err == nil {
				t.Fatalf("accepted, want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}

func TestParseStrictRejectsTypos(t *testing.T) {
	b, err := os.ReadFile("axon.yaml")
	if err != nil {
		t.Fatal(err)
	}
	typo := bytes.Replace(b, []byte("    sha256:"), []byte("    sha265:"), 1)
	if _, err := ParseStrict(typo); err == nil {
		t.Error("ParseStrict accepted an unknown field sha265")
	}
	if p, err := Parse(typo); err != nil {
		t.Errorf("Parse (lenient, like krew) failed: %v", err)
	} else if ValidatePlugin("axon", p) == nil {
		t.Error("missing sha256 not detected")
	}
}

func TestParseVersion(t *testing.T) {
	for v, ok := range map[string]bool{
		"v0.1.0": true, "v1.2.3": true, "v0.1.0-dev": true, "v0.1.0-rc.1": true,
		"v0.1.0-3-g72374ea": true, "v0.1.0-3-g72374ea-dirty": true, "v1.0.0+build.5": true,
		"v0.1.0-0": true, "v10.20.30": true,
		"0.1.0": false, "v0.1": false, "v1": false, "v01.0.0": false, "v0.1.0-01": false,
		"v0.1.0-": false, "v0.1.0+": false, "v0.1.0 ": false, "V0.1.0": false, "v0.1.0-dev_1": false,
	} {
		if err := ParseVersion(v); (err == nil) != ok {
			t.Errorf("ParseVersion(%q) = %v, want ok=%v", v, err, ok)
		}
	}
}

func TestSelectorMatches(t *testing.T) {
	linux := OSArch{"linux", "amd64"}
	for _, tc := range []struct {
		sel  LabelSelector
		want bool
	}{
		{LabelSelector{MatchLabels: map[string]string{"os": "linux"}}, true},
		{LabelSelector{MatchLabels: map[string]string{"os": "linux", "arch": "arm64"}}, false},
		{LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "arch", Operator: "In", Values: []string{"arm64", "amd64"}}}}, true},
		{LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "NotIn", Values: []string{"linux"}}}}, false},
		{LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "Exists"}}}, true},
		{LabelSelector{MatchExpressions: []LabelSelectorRequirement{{Key: "os", Operator: "DoesNotExist"}}}, false},
	} {
		if got := tc.sel.Matches(linux); got != tc.want {
			t.Errorf("%+v matches linux/amd64 = %v, want %v", tc.sel, got, tc.want)
		}
	}
}

type file struct {
	name string
	body string
	mode int64
	typ  byte
	link string
}

func tarGz(t *testing.T, files ...file) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range files {
		typ := f.typ
		if typ == 0 {
			typ = tar.TypeReg
		}
		h := &tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.body)), Typeflag: typ, Linkname: f.link}
		if typ != tar.TypeReg {
			h.Size = 0
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if typ == tar.TypeReg {
			if _, err := tw.Write([]byte(f.body)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func zipped(t *testing.T, names ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, n := range names {
		w, err := zw.Create(n)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(w, "content of %s", n)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestInstall exercises the install simulation with the file operations of
// the committed manifest and with broken archives or operations.
func TestInstall(t *testing.T) {
	p := base(t)
	var linux, windows Platform
	for _, pl := range p.Spec.Platforms {
		switch MatchingPlatforms(pl.Selector)[0] {
		case OSArch{"linux", "amd64"}:
			linux = pl
		case OSArch{"windows", "amd64"}:
			windows = pl
		}
	}
	good := tarGz(t, file{name: "kubectl-axon", body: "ELF"}, file{name: "LICENSE", body: "Apache"})
	goodWin := tarGz(t, file{name: "kubectl-axon.exe", body: "MZ"}, file{name: "LICENSE", body: "Apache"})

	with := func(pl Platform, mod func(*Platform)) Platform {
		pl.Files = slices.Clone(pl.Files)
		mod(&pl)
		return pl
	}
	cases := []struct {
		name    string
		pl      Platform
		archive []byte
		want    string // "" = must install
	}{
		{"linux", with(linux, func(pl *Platform) { pl.Sha256 = sum(good) }), good, ""},
		{"windows", with(windows, func(pl *Platform) { pl.Sha256 = sum(goodWin) }), goodWin, ""},
		{"zip", with(windows, func(pl *Platform) { pl.Sha256 = sum(zipped(t, "kubectl-axon.exe", "LICENSE")) }), zipped(t, "kubectl-axon.exe", "LICENSE"), ""},
		{"default files glob", with(linux, func(pl *Platform) { pl.Files = nil; pl.Sha256 = sum(good) }), good, ""},
		{"glob into subdir", with(linux, func(pl *Platform) {
			pl.Files = []FileOperation{{From: "*", To: "bin"}}
			pl.Bin = "bin/kubectl-axon"
			pl.Sha256 = sum(good)
		}), good, ""},
		{"sha256 mismatch", with(linux, func(pl *Platform) { pl.Sha256 = strings.Repeat("0", 64) }), good, "sha256 of the archive"},
		{"no LICENSE in archive", with(linux, func(pl *Platform) {
			pl.Files = pl.Files[:1]
		}), tarGz(t, file{name: "kubectl-axon", body: "ELF"}), "no LICENSE"},
		{"from matches nothing", linux, tarGz(t, file{name: "kubectl-axon", body: "ELF"}), "matched the glob"},
		{"linux binary in windows archive", windows, good, "matched the glob"},
		{"bin not installed", with(linux, func(pl *Platform) { pl.Bin = "axon" }), good, "cannot be found"},
		{"bin outside install dir", with(linux, func(pl *Platform) { pl.Bin = "../kubectl-axon" }), good, "outside the installation directory"},
		{"unclean to", with(linux, func(pl *Platform) { pl.Files[0].To = "./bin/" }), good, "not clean"},
		{"to escapes", with(linux, func(pl *Platform) { pl.Files[0].To = "../bin" }), good, "outside the installation directory"},
		{"entry escapes", linux, tarGz(t, file{name: "../kubectl-axon", body: "ELF"}, file{name: "LICENSE"}), "escapes"},
		{"symlink escapes", linux, tarGz(t, file{name: "kubectl-axon", typ: tar.TypeSymlink, link: "../../usr/bin/sh"}, file{name: "LICENSE"}), "points outside"},
		{"not an archive", linux, []byte("#!/bin/sh\n"), "neither"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pl := tc.pl
			if tc.want != "sha256 of the archive" {
				pl.Sha256 = sum(tc.archive)
			}
			_, installed, err := Install(pl, tc.archive)
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("install failed: %v", err)
			case tc.want == "":
				t.Logf("installed %v", installed)
			case err == nil:
				t.Fatalf("installed %v, want an error containing %q", installed, tc.want)
			case !strings.Contains(err.Error(), tc.want):
				t.Errorf("error %q does not contain %q", err, tc.want)
			}
		})
	}
}
