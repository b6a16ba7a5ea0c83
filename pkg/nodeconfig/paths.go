package nodeconfig

import (
	"path"
	"strings"
)

// WorkDir is Axon Server's working directory in AxonIQ's images (/axonserver/config,
// /axonserver/data, ...): where a relative path of its configuration points.
const WorkDir = "/axonserver"

// Resolve makes a configured path absolute against workDir, and clean.
func Resolve(p, workDir string) string {
	if !path.IsAbs(p) {
		p = path.Join(workDir, p)
	}
	return path.Clean(p)
}

// Holder returns the index of the deepest of mountPaths that holds the absolute
// path p, or -1 when none does (p is then on the container's own filesystem).
func Holder(p string, mountPaths []string) int {
	best, bestLen := -1, -1
	for i, mp := range mountPaths {
		mp = path.Clean(mp)
		if (p == mp || strings.HasPrefix(p, strings.TrimSuffix(mp, "/")+"/")) && len(mp) > bestLen {
			best, bestLen = i, len(mp)
		}
	}
	return best
}
