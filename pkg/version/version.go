// Package version holds the plugin's build identity, set at link time by `make build`
// and `make dist` (-X .../pkg/version.Version=v0.1.0 -X .../pkg/version.Commit=abc1234).
package version

import "runtime"

var (
	// Version is the release, semver with a leading v.
	Version = "v0.0.0-dev"
	// Commit is the short git hash the binary was built from.
	Commit = "unknown"
)

// Info is what `kubectl axon version` prints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running binary's build identity.
func Get() Info {
	return Info{Version: Version, Commit: Commit, GoVersion: runtime.Version(), Platform: runtime.GOOS + "/" + runtime.GOARCH}
}

// UserAgent is sent to the Kubernetes API server and to Axon Server.
func UserAgent() string { return "kubectl-axon/" + Version }
