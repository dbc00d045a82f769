// Package label parses image labels (//agnhost, //volume/nfs) and target
// patterns (//x, //x/..., //...), the only names imgraph uses for images.
package label

import (
	"fmt"
	"path"
	"strings"
)

// Label names one image: "//" + its directory relative to the images root.
type Label string

// Path is the label without the leading "//" (agnhost, volume/nfs).
func (l Label) Path() string { return strings.TrimPrefix(string(l), "//") }

func (l Label) String() string { return string(l) }

// Parse accepts "//agnhost", "agnhost" and "//volume/nfs"; it rejects
// patterns, empty paths and paths that are not clean.
func Parse(s string) (Label, error) {
	p := strings.TrimPrefix(strings.TrimSpace(s), "//")
	if p == "" {
		return "", fmt.Errorf("invalid label %q: empty path (write //NAME, e.g. //agnhost)", s)
	}
	if strings.HasSuffix(p, "...") {
		return "", fmt.Errorf("invalid label %q: a pattern is not allowed here", s)
	}
	if err := checkPath(p); err != nil {
		return "", fmt.Errorf("invalid label %q: %v", s, err)
	}
	return Label("//" + p), nil
}

// FromDir builds the label of an image directory given relative to the images root.
func FromDir(rel string) Label { return Label("//" + path.Clean(strings.ReplaceAll(rel, "\\", "/"))) }

func checkPath(p string) error {
	if strings.HasPrefix(p, "/") || strings.HasSuffix(p, "/") {
		return fmt.Errorf("leading or trailing slash")
	}
	if path.Clean(p) != p {
		return fmt.Errorf("path is not clean")
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "." || seg == ".." || seg == "" {
			return fmt.Errorf("path segment %q not allowed", seg)
		}
		for _, r := range seg {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.+", r)) {
				return fmt.Errorf("character %q not allowed (use letters, digits, - _ . +)", r)
			}
		}
	}
	return nil
}

// Pattern selects labels: one label, everything below a path, or everything.
type Pattern struct {
	Prefix    string // label path, "" with Recursive for //...
	Recursive bool
}

// ParsePattern accepts //x, x, //x/... and //... .
func ParsePattern(s string) (Pattern, error) {
	p := strings.TrimPrefix(strings.TrimSpace(s), "//")
	switch {
	case p == "...":
		return Pattern{Recursive: true}, nil
	case strings.HasSuffix(p, "/..."):
		prefix := strings.TrimSuffix(p, "/...")
		if err := checkPath(prefix); err != nil {
			return Pattern{}, fmt.Errorf("invalid target pattern %q: %v", s, err)
		}
		return Pattern{Prefix: prefix, Recursive: true}, nil
	}
	l, err := Parse(s)
	if err != nil {
		return Pattern{}, err
	}
	return Pattern{Prefix: l.Path()}, nil
}

// Match reports whether the pattern selects l.
func (p Pattern) Match(l Label) bool {
	lp := l.Path()
	if !p.Recursive {
		return lp == p.Prefix
	}
	return p.Prefix == "" || lp == p.Prefix || strings.HasPrefix(lp, p.Prefix+"/")
}

func (p Pattern) String() string {
	switch {
	case p.Recursive && p.Prefix == "":
		return "//..."
	case p.Recursive:
		return "//" + p.Prefix + "/..."
	}
	return "//" + p.Prefix
}
