// Package naming renders registry references the way the legacy scripts
// did: <registry>/<repository>:<version>-<os>-<arch>[-<variant>][-<os_version>]
// per platform, and <registry>/<repository>:<version> for the manifest list.
package naming

import (
	"strings"

	"github.com/imgraph/imgraph/engine/platform"
)

// Repo joins registry and repository; an empty registry gives a bare name.
func Repo(registry, repository string) string {
	registry = strings.TrimSuffix(registry, "/")
	if registry == "" {
		return repository
	}
	return registry + "/" + repository
}

// PlatformTag is the per-platform tag: 2.63.0-linux-arm64.
func PlatformTag(version string, p platform.Platform) string {
	return version + "-" + p.TagSuffix()
}

// PlatformRef is the full per-platform reference.
func PlatformRef(registry, repository, version string, p platform.Platform) string {
	return Repo(registry, repository) + ":" + PlatformTag(version, p)
}

// ListRef is the manifest-list reference.
func ListRef(registry, repository, version string) string {
	return Repo(registry, repository) + ":" + version
}
