#!/usr/bin/env bash
# Cross-compiles kubectl-axon for the krew platforms, packs reproducible
# archives dist/kubectl-axon_<version>_<os>_<arch>.tar.gz (binary + LICENSE),
# writes dist/axon.yaml (plugins/axon.yaml with this version's uri/sha256)
# and validates it with krew's rules (go test ./plugins/ -run TestManifest).
#
# Environment:
#   VERSION  semver with leading v; default from `git describe --tags
#            --always --dirty`, v0.1.0-dev when there is no tag
#   COMMIT   default: short hash of HEAD
#   DIST_DIR default: dist
#   SOURCE_DATE_EPOCH  mtime of archive entries; default: commit time
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

MODULE=github.com/kubectl-axon/kubectl-axon
REPO_URL=https://github.com/kubectl-axon/kubectl-axon
PLATFORMS=(linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64 windows/arm64)
DIST_DIR=${DIST_DIR:-dist}
GO=${GO:-go}

semver_re='^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$'

# Version: krew wants semver with a leading v.
if [[ -z "${VERSION:-}" ]]; then
	VERSION=$(git describe --tags --always --dirty 2>/dev/null || true)
fi
[[ -n "$VERSION" && "$VERSION" != v* ]] && VERSION="v$VERSION"
if [[ ! "$VERSION" =~ $semver_re ]]; then
	# No tag: describe gives only the hash (vabc1234[-dirty]).
	if [[ -z "$VERSION" || "$VERSION" =~ ^v[0-9a-f]{7,40}(-dirty)?$ ]]; then
		VERSION=v0.1.0-dev
	else
		echo "dist: VERSION=$VERSION is not a semantic version with a leading v (e.g. v0.1.0)" >&2
		exit 1
	fi
fi
COMMIT=${COMMIT:-$(git rev-parse --short HEAD 2>/dev/null || echo unknown)}
SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}

echo "dist: kubectl-axon $VERSION ($COMMIT) -> $DIST_DIR/" >&2

stage="$DIST_DIR/.stage"
rm -rf "$stage"
mkdir -p "$stage"
# Keep the generated files out of git without touching the root .gitignore.
echo '*' >"$DIST_DIR/.gitignore"
tarball="$stage/tarball"
GOOS= GOARCH= CGO_ENABLED=0 "$GO" build -o "$tarball" hack/tarball.go
# Remove archives of this version only; other versions may be kept.
rm -f "$DIST_DIR"/kubectl-axon_"$VERSION"_*.tar.gz "$DIST_DIR/axon.yaml" "$DIST_DIR/checksums.txt"

# Same -X as the root Makefile's build (pkg/axonserver.Version: user agent).
ldflags="-s -w -X $MODULE/pkg/version.Version=$VERSION -X $MODULE/pkg/version.Commit=$COMMIT -X $MODULE/pkg/axonserver.Version=$VERSION"
sums="$stage/sha256sums"
: >"$sums"
start=$(date +%s)
for platform in "${PLATFORMS[@]}"; do
	os=${platform%/*}
	arch=${platform#*/}
	bin=kubectl-axon
	[[ "$os" == windows ]] && bin=kubectl-axon.exe
	dir="$stage/${os}_${arch}"
	mkdir -p "$dir"
	t0=$(date +%s)
	CGO_ENABLED=0 GOOS=$os GOARCH=$arch "$GO" build -trimpath -ldflags "$ldflags" \
		-o "$dir/$bin" ./cmd/kubectl-axon
	cp LICENSE "$dir/LICENSE"
	chmod 0755 "$dir/$bin"
	chmod 0644 "$dir/LICENSE"
	archive="kubectl-axon_${VERSION}_${os}_${arch}.tar.gz"
	# Sorted names: LICENSE < kubectl-axon[.exe].
	sum=$("$tarball" -o "$DIST_DIR/$archive" -mtime "$SOURCE_DATE_EPOCH" \
		-C "$dir" LICENSE "$bin")
	# The archive must hold exactly the binary and LICENSE.
	listing=$(tar tzf "$DIST_DIR/$archive" | LC_ALL=C sort | tr '\n' ' ')
	if [[ "$listing" != "LICENSE $bin " ]]; then
		echo "dist: $archive holds [$listing], want [LICENSE $bin]" >&2
		exit 1
	fi
	echo "$sum  $archive" >>"$sums"
	echo "dist: $archive $(wc -c <"$DIST_DIR/$archive" | tr -d ' ') bytes, $(($(date +%s) - t0))s, sha256 $sum" >&2
done
cp "$sums" "$DIST_DIR/checksums.txt"

# dist/axon.yaml: plugins/axon.yaml with this version, its release URLs and
# the archives' checksums. Each platform's "uri:" line names its os/arch
# (..._<os>_<arch>.tar.gz); the "sha256:" line that follows gets its sum.
awk -v ver="$VERSION" -v url="$REPO_URL/releases/download" -v sums="$sums" '
BEGIN {
	while ((getline line < sums) > 0) { split(line, f, " "); sha[f[2]] = f[1] }
}
/^  version:/ { print "  version: " ver; next }
/^ *uri: / {
	indent = substr($0, 1, index($0, "uri:") - 1)
	n = split($2, parts, "/"); name = parts[n]
	sub(/\.tar\.gz$/, "", name)
	k = split(name, p, "_")
	if (k < 3) { print "dist: cannot tell the platform of " $2 > "/dev/stderr"; exit 1 }
	archive = "kubectl-axon_" ver "_" p[k-1] "_" p[k] ".tar.gz"
	if (!(archive in sha)) { print "dist: no archive " archive " for " $2 > "/dev/stderr"; exit 1 }
	print indent "uri: " url "/" ver "/" archive
	pending = archive
	used[archive] = 1
	next
}
/^ *sha256: / && pending != "" {
	print substr($0, 1, index($0, "sha256:") - 1) "sha256: " sha[pending]
	pending = ""
	next
}
{ print }
END {
	for (a in sha) if (!(a in used)) { print "dist: archive " a " not in the manifest" > "/dev/stderr"; exit 1 }
}' plugins/axon.yaml >"$DIST_DIR/axon.yaml"

rm -rf "$stage"

# Validate dist/axon.yaml with krew's rules, and install every platform from
# its archive the way krew would.
KREW_MANIFEST="$PWD/$DIST_DIR/axon.yaml" KREW_ARCHIVES="$PWD/$DIST_DIR" KREW_VERSION="$VERSION" \
	"$GO" test -count=1 ./plugins/ -run '^TestManifest$'

echo "dist: done in $(($(date +%s) - start))s" >&2
ls -l "$DIST_DIR" >&2
