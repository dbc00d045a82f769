package legacy

import (
	"regexp"
	"strings"

	"github.com/imgraph/imgraph/engine/platform"
)

// registryRef is a reference to an image of the legacy registry:
// REGISTRY/<repo>:<version>[-<suffix>] in BASEIMAGE, $REGISTRY/... in a
// Dockerfile.
type registryRef struct {
	Repo    string
	Version string // the pinned version, without the platform suffix
	Suffix  string // "linux-amd64", "linux-amd64-$OS_VERSION", or "" (a manifest list)
	Digest  string
}

// parseRegistryRef splits what follows the registry prefix.
func parseRegistryRef(s string) registryRef {
	var r registryRef
	s, r.Digest, _ = strings.Cut(s, "@")
	r.Repo = s
	if i := strings.LastIndex(s, ":"); i >= 0 {
		r.Repo, r.Version = s[:i], s[i+1:]
	}
	// The version is free-form (1.37.0-2), so split at the last -linux- or
	// -windows-: the suffix is always <os>-<arch>[...].
	best := -1
	for _, os := range []string{"-linux-", "-windows-"} {
		if i := strings.LastIndex(r.Version, os); i > best {
			best = i
		}
	}
	if best > 0 {
		r.Version, r.Suffix = r.Version[:best], r.Version[best+1:]
	}
	return r
}

var osVersionVar = regexp.MustCompile(`\$\{?OS_VERSION\}?`)

// platformTemplate turns a tag suffix into an image_ref platform template:
// linux-amd64-$OS_VERSION → linux/amd64/{os_version}. ok is false when the
// suffix holds another variable or is not a platform.
func platformTemplate(suffix string) (string, bool) {
	t := osVersionVar.ReplaceAllString(suffix, "{os_version}")
	if strings.Contains(t, "$") {
		return "", false
	}
	t = strings.ReplaceAll(t, "-", "/")
	probe := strings.ReplaceAll(t, "{os_version}", "ltsc2022")
	if _, err := platform.Parse(probe); err != nil {
		return "", false
	}
	return t, true
}

// hubPrefixes are the Docker Hub per-architecture namespaces of official
// images. For linux/arm only arm32v7 is the image a plain name resolves to
// (the default arm variant), so arm32v5/arm32v6 never collapse.
var hubPrefixes = map[string][]string{
	"linux/amd64":   {"amd64/"},
	"linux/arm":     {"arm32v7/"},
	"linux/arm/v7":  {"arm32v7/"},
	"linux/arm/v6":  {"arm32v6/"},
	"linux/arm/v5":  {"arm32v5/"},
	"linux/arm64":   {"arm64v8/"},
	"linux/ppc64le": {"ppc64le/"},
	"linux/s390x":   {"s390x/"},
	"linux/386":     {"i386/"},
	"linux/riscv64": {"riscv64/"},
}

// collapseHub strips the Docker Hub per-arch namespace from ref when it is
// the one for p: arm64v8/alpine:3.21 on linux/arm64 is alpine:3.21 there.
// Digest-pinned references are left alone (each arch has its own digest).
func collapseHub(p platform.Platform, ref string) string {
	if strings.Contains(ref, "@") {
		return ref
	}
	for _, pre := range hubPrefixes[p.String()] {
		rest, ok := strings.CutPrefix(ref, pre)
		// Only Docker Hub official images: no further registry or namespace.
		if ok && !strings.Contains(rest, "/") && rest != "" {
			return rest
		}
	}
	return ref
}
