// Package platform parses the os/arch[/variant][/os_version] platform strings
// of IMAGE.star and renders the legacy tag suffixes.
package platform

import (
	"fmt"
	"regexp"
	"sort"
	"strings"
)

// Platform is one build target. OSVersion is a Windows release name
// (ltsc2022); it is also allowed on linux/amd64 for the helper-image shape
// (Windows content built as a Linux image, tag suffix linux-amd64-ltsc2022).
type Platform struct {
	OS        string
	Arch      string
	Variant   string
	OSVersion string
}

// WindowsReleases maps the release names used in tags to their build
// prefixes (what a daemon's /info and an image's os.version report).
var WindowsReleases = map[string]string{
	"1809":     "10.0.17763",
	"1903":     "10.0.18362",
	"1909":     "10.0.18363",
	"2004":     "10.0.19041",
	"20H2":     "10.0.19042",
	"ltsc2019": "10.0.17763",
	"ltsc2022": "10.0.20348",
	"ltsc2025": "10.0.26100",
}

// KnownWindowsReleases lists WindowsReleases' names, sorted, for messages.
func KnownWindowsReleases() []string {
	out := make([]string, 0, len(WindowsReleases))
	for k := range WindowsReleases {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

var linuxArches = map[string][]string{
	"amd64":    {""},
	"386":      {""},
	"arm64":    {"", "v8"},
	"arm":      {"v5", "v6", "v7", ""},
	"ppc64le":  {""},
	"s390x":    {""},
	"riscv64":  {""},
	"mips64le": {""},
	"loong64":  {""},
}

var variantRE = regexp.MustCompile(`^v[0-9]+$`)

// Parse accepts linux/arm64, linux/arm/v7, windows/amd64/ltsc2022 and
// linux/amd64/ltsc2022.
func Parse(s string) (Platform, error) {
	parts := strings.Split(s, "/")
	if len(parts) < 2 || len(parts) > 4 {
		return Platform{}, fmt.Errorf("malformed platform %q: want os/arch[/variant][/os_version], e.g. linux/arm64, linux/arm/v7, windows/amd64/ltsc2022", s)
	}
	p := Platform{OS: parts[0], Arch: parts[1]}
	for _, extra := range parts[2:] {
		switch {
		case variantRE.MatchString(extra) && p.Variant == "" && p.OSVersion == "":
			p.Variant = extra
		case p.OSVersion == "":
			if _, ok := WindowsReleases[extra]; !ok {
				return Platform{}, fmt.Errorf("platform %q: %q is neither a variant (v7) nor a known Windows release (%s)", s, extra, strings.Join(KnownWindowsReleases(), ", "))
			}
			p.OSVersion = extra
		default:
			return Platform{}, fmt.Errorf("malformed platform %q: too many fields", s)
		}
	}
	switch p.OS {
	case "linux":
		variants, ok := linuxArches[p.Arch]
		if !ok {
			return Platform{}, fmt.Errorf("unknown platform %q: architecture %q is not one of amd64, arm64, arm, ppc64le, s390x, riscv64, 386", s, p.Arch)
		}
		if !contains(variants, p.Variant) {
			return Platform{}, fmt.Errorf("unknown platform %q: %s has no variant %q", s, p.Arch, p.Variant)
		}
		if p.OSVersion != "" && p.Arch != "amd64" {
			return Platform{}, fmt.Errorf("platform %q: a Windows release on a Linux platform is only allowed for linux/amd64 (the Windows helper-image shape)", s)
		}
	case "windows":
		if p.Arch != "amd64" && p.Arch != "arm64" {
			return Platform{}, fmt.Errorf("unknown platform %q: Windows images are amd64 or arm64", s)
		}
		if p.Variant != "" {
			return Platform{}, fmt.Errorf("platform %q: Windows platforms have no variant", s)
		}
		if p.OSVersion == "" {
			return Platform{}, fmt.Errorf("platform %q: a Windows platform needs an OS version, e.g. windows/amd64/ltsc2022", s)
		}
	default:
		return Platform{}, fmt.Errorf("unknown platform %q: OS must be linux or windows", s)
	}
	return p, nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// String renders the canonical os/arch[/variant][/os_version] form.
func (p Platform) String() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	if p.OSVersion != "" {
		s += "/" + p.OSVersion
	}
	return s
}

// OCI is the os/arch[/variant] form BuildKit and registries understand.
func (p Platform) OCI() string {
	s := p.OS + "/" + p.Arch
	if p.Variant != "" {
		s += "/" + p.Variant
	}
	return s
}

// TagSuffix is the legacy per-platform tag suffix: linux-arm64,
// linux-arm-v7, windows-amd64-ltsc2022, linux-amd64-ltsc2022.
func (p Platform) TagSuffix() string { return strings.ReplaceAll(p.String(), "/", "-") }

// IsWindows reports whether the node produces a Windows image.
func (p Platform) IsWindows() bool { return p.OS == "windows" }

// Less orders platforms deterministically: linux before windows, then by string.
func Less(a, b Platform) bool {
	if a.OS != b.OS {
		return a.OS < b.OS
	}
	return a.String() < b.String()
}

// Selector matches platforms in base dicts: "linux", "linux/arm64",
// "windows", "windows/amd64/ltsc2022". A selector with more fields is more
// specific.
type Selector struct {
	Fields []string
}

// ParseSelector validates a selector's shape.
func ParseSelector(s string) (Selector, error) {
	parts := strings.Split(s, "/")
	if s == "" || len(parts) > 4 {
		return Selector{}, fmt.Errorf("malformed platform selector %q: want linux, linux/arm64, windows or windows/amd64/ltsc2022", s)
	}
	if parts[0] != "linux" && parts[0] != "windows" {
		return Selector{}, fmt.Errorf("platform selector %q: OS must be linux or windows", s)
	}
	if len(parts) >= 2 {
		if _, err := Parse(s); err != nil && len(parts) > 2 {
			return Selector{}, fmt.Errorf("platform selector %q: %v", s, err)
		}
	}
	return Selector{Fields: parts}, nil
}

// Match reports whether sel selects p, and how specific the match is.
func (sel Selector) Match(p Platform) (bool, int) {
	full := strings.Split(p.String(), "/")
	if len(sel.Fields) > len(full) {
		return false, 0
	}
	for i, f := range sel.Fields {
		if full[i] != f {
			return false, 0
		}
	}
	return true, len(sel.Fields)
}
