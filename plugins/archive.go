package plugins

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
)

// licenseFiles are the names validate-krew-manifest accepts as the license
// of an installed plugin (compared lower-case).
var licenseFiles = []string{"license", "license.txt", "license.md",
	"licenses", "licenses.txt", "licenses.md", "copying", "copying.txt"}

// Install simulates "kubectl krew install --manifest ... --archive ..." for
// one platform without touching the disk: it checks the archive's sha256,
// reads its entries (tar.gz or zip, like krew), applies the platform's file
// operations, and checks that bin and a license file end up in the
// installation directory. It returns the archive's regular files and the
// installed files, both sorted, relative to their roots.
func Install(pl Platform, archive []byte) (entries, installed []string, err error) {
	sum := sha256.Sum256(archive)
	if got := hex.EncodeToString(sum[:]); got != pl.Sha256 {
		return nil, nil, fmt.Errorf("sha256 of the archive is %s, manifest says %s", got, pl.Sha256)
	}
	entries, err = archiveEntries(archive)
	if err != nil {
		return nil, nil, err
	}
	fops := pl.Files
	if fops == nil { // krew's default
		fops = []FileOperation{{From: "*", To: "."}}
	}
	set := map[string]bool{}
	for _, fo := range fops {
		moved, err := moveTargets(entries, fo)
		if err != nil {
			return entries, nil, err
		}
		for _, m := range moved {
			set[m] = true
		}
	}
	for f := range set {
		installed = append(installed, f)
	}
	slices.Sort(installed)

	bin := path.Clean(strings.ReplaceAll(pl.Bin, `\`, "/"))
	if !inside(bin) {
		return entries, installed, fmt.Errorf("bin %q is outside the installation directory", pl.Bin)
	}
	if !set[bin] {
		return entries, installed, fmt.Errorf("bin %q cannot be found among the installed files %v", pl.Bin, installed)
	}
	hasLicense := false
	for _, f := range installed {
		if slices.Contains(licenseFiles, strings.ToLower(path.Base(f))) {
			hasLicense = true
		}
	}
	if !hasLicense {
		return entries, installed, fmt.Errorf("no LICENSE (or alike) file among the installed files %v", installed)
	}
	return entries, installed, nil
}

// InstallFile is Install with the archive read from a file.
func InstallFile(pl Platform, file string) (entries, installed []string, err error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	return Install(pl, b)
}

func inside(p string) bool {
	return p != "." && p != ".." && !strings.HasPrefix(p, "../") && !path.IsAbs(p)
}

// moveTargets applies one file operation the way krew does: "to" must be a
// clean path; "from" is first tried as a single file (copied to "to", or
// under its own name when "to" is "."), then as a glob whose matches are
// copied into the directory "to". A glob matching nothing is an error.
func moveTargets(entries []string, fo FileOperation) ([]string, error) {
	if fo.To != path.Clean(fo.To) {
		return nil, fmt.Errorf("the provided path is not clean, %q should be %q", fo.To, path.Clean(fo.To))
	}
	from := path.Clean(fo.From)
	if slices.Contains(entries, from) {
		to := fo.To
		if to == "." {
			to = path.Base(from)
		}
		if !inside(to) {
			return nil, fmt.Errorf("move target %q is outside the installation directory", fo.To)
		}
		return []string{to}, nil
	}
	// Glob: matches files and the directories implied by the entries.
	var out []string
	matched := false
	for _, e := range entries {
		parts := strings.Split(e, "/")
		for i := 1; i <= len(parts); i++ {
			prefix := strings.Join(parts[:i], "/")
			ok, err := path.Match(from, prefix)
			if err != nil {
				return nil, fmt.Errorf("could not get files using the glob %q: %w", fo.From, err)
			}
			if !ok {
				continue
			}
			matched = true
			// prefix (a file, or a directory containing e) moves into fo.To.
			rest := strings.Join(parts[i:], "/")
			to := path.Join(fo.To, path.Base(prefix), rest)
			if !inside(to) {
				return nil, fmt.Errorf("move target %q is outside the installation directory", to)
			}
			out = append(out, to)
			break
		}
	}
	if !matched {
		return nil, fmt.Errorf("no files in the plugin archive matched the glob pattern=%s", fo.From)
	}
	return out, nil
}

// archiveEntries lists the regular files of a tar.gz or zip archive and
// rejects entries krew refuses to extract (paths escaping the directory,
// links pointing outside it).
func archiveEntries(b []byte) ([]string, error) {
	var names []string
	check := func(name string) (string, error) {
		n := path.Clean(strings.ReplaceAll(name, `\`, "/"))
		if !inside(n) {
			return "", fmt.Errorf("archive entry %q escapes the extraction directory", name)
		}
		return n, nil
	}
	switch {
	case bytes.HasPrefix(b, []byte{0x1f, 0x8b}):
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		tr := tar.NewReader(zr)
		for {
			h, err := tr.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return nil, fmt.Errorf("reading tar: %w", err)
			}
			n, err := check(h.Name)
			if err != nil {
				return nil, err
			}
			switch h.Typeflag {
			case tar.TypeReg:
				names = append(names, n)
			case tar.TypeDir:
			case tar.TypeSymlink:
				target := h.Linkname
				if !path.IsAbs(target) {
					target = path.Join(path.Dir(n), target)
				}
				if !inside(path.Clean(target)) {
					return nil, fmt.Errorf("symlink %q points outside the extraction directory", h.Name)
				}
				names = append(names, n)
			default:
				return nil, fmt.Errorf("unsupported tar entry type %q for %q", h.Typeflag, h.Name)
			}
		}
	case bytes.HasPrefix(b, []byte("PK\x03\x04")):
		zr, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
		if err != nil {
			return nil, err
		}
		for _, f := range zr.File {
			n, err := check(f.Name)
			if err != nil {
				return nil, err
			}
			if !f.FileInfo().IsDir() {
				names = append(names, n)
			}
		}
	default:
		return nil, errors.New("archive is neither gzip-compressed tar nor zip")
	}
	slices.Sort(names)
	return names, nil
}
