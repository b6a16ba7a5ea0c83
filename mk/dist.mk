# Release artifacts: included by the root Makefile, or standalone:
#   make -f mk/dist.mk dist [VERSION=v0.1.0]
#
# dist        cross-compiles kubectl-axon for linux/darwin/windows x
#             amd64/arm64, packs $(DIST_DIR)/kubectl-axon_<version>_<os>_<arch>.tar.gz
#             (binary + LICENSE, reproducible), writes $(DIST_DIR)/axon.yaml
#             (the krew manifest with this version's uri/sha256) and
#             validates it with krew's rules (go test ./plugins/).
# dist-clean  removes $(DIST_DIR).
#
# VERSION defaults to `git describe --tags --always --dirty` with a leading
# v (v0.1.0-dev when there is no tag), COMMIT to the short hash of HEAD;
# both are computed by hack/dist.sh when empty.

DIST_MK_ROOT := $(abspath $(dir $(lastword $(MAKEFILE_LIST)))..)
DIST_DIR ?= dist

.PHONY: dist dist-clean
## dist: cross-built archives for krew and dist/axon.yaml, validated (VERSION=v1.2.3)
dist:
	VERSION="$(VERSION)" COMMIT="$(COMMIT)" DIST_DIR="$(DIST_DIR)" \
		bash "$(DIST_MK_ROOT)/hack/dist.sh"

## dist-clean: remove dist/
dist-clean:
	cd "$(DIST_MK_ROOT)" && rm -rf -- "$(DIST_DIR)"
