// Package bump understands the version shapes IMAGE.star files use and
// edits the version literal in place.
//
// Orderable shapes are an optional "v", one or more dot-separated numbers
// and an optional "-N" packaging revision: 2.63.0, 1.9, 1.37.0-2, v4.
// Anything else (1.0-alpha, latest, 20240101-abc) is "unorderable": it can
// be compared for equality but not ordered, and not bumped.
package bump

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Part is the component to increment.
type Part string

const (
	// Auto picks from the shape: the revision of 1.37.0-2, the minor of
	// 1.9, the patch of 2.63.0, the major of v4.
	Auto  Part = ""
	Major Part = "major"
	Minor Part = "minor"
	Patch Part = "patch"
)

// ParsePart accepts "", major, minor and patch.
func ParsePart(s string) (Part, error) {
	switch p := Part(s); p {
	case Auto, Major, Minor, Patch:
		return p, nil
	}
	return "", fmt.Errorf("--part %q: want major, minor or patch", s)
}

// Version is an orderable version.
type Version struct {
	Prefix   string // "v" or ""
	Nums     []int
	Revision int // 0 when there is no "-N"
	HasRev   bool
}

var shape = regexp.MustCompile(`^(v?)([0-9]+(?:\.[0-9]+)*)(?:-([0-9]+))?$`)

// Parse reads an orderable version; ok is false for other shapes.
func Parse(s string) (v Version, ok bool) {
	m := shape.FindStringSubmatch(s)
	if m == nil {
		return Version{}, false
	}
	v.Prefix = m[1]
	for _, f := range strings.Split(m[2], ".") {
		n, err := strconv.Atoi(f)
		if err != nil {
			return Version{}, false // too large
		}
		v.Nums = append(v.Nums, n)
	}
	if m[3] != "" {
		n, err := strconv.Atoi(m[3])
		if err != nil {
			return Version{}, false
		}
		v.Revision, v.HasRev = n, true
	}
	return v, true
}

func (v Version) String() string {
	parts := make([]string, len(v.Nums))
	for i, n := range v.Nums {
		parts[i] = strconv.Itoa(n)
	}
	s := v.Prefix + strings.Join(parts, ".")
	if v.HasRev {
		s += "-" + strconv.Itoa(v.Revision)
	}
	return s
}

// Compare orders two version strings: -1, 0 or +1, with ok false when
// either is unorderable. Missing components count as 0 (1.9 == 1.9.0), a
// missing revision as 0 (1.37.0 < 1.37.0-1), and the "v" prefix is
// ignored (v4 == 4).
func Compare(a, b string) (c int, ok bool) {
	va, okA := Parse(a)
	vb, okB := Parse(b)
	if !okA || !okB {
		return 0, false
	}
	for i := 0; i < max(len(va.Nums), len(vb.Nums)); i++ {
		x, y := at(va.Nums, i), at(vb.Nums, i)
		if x != y {
			return sign(x - y), true
		}
	}
	return sign(va.Revision - vb.Revision), true
}

func at(xs []int, i int) int {
	if i < len(xs) {
		return xs[i]
	}
	return 0
}

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// Next returns the version after s.
//
// With Auto: a revision is incremented when present (1.37.0-2 → 1.37.0-3);
// otherwise the last of the first three numbers (v4 → v5, 1.9 → 1.10,
// 2.63.0 → 2.63.1). With an explicit part that number is incremented, the
// numbers after it reset to 0 and missing ones are added (1.9 patch →
// 1.9.1, v4 minor → v4.1), and a revision restarts at 1 (1.37.0-2 patch →
// 1.37.1-1): a new upstream version starts a new packaging series.
func Next(s string, part Part) (string, error) {
	v, ok := Parse(s)
	if !ok {
		return "", fmt.Errorf("version %q has no shape imgraph can bump (want e.g. 2.63.0, 1.9, 1.37.0-2 or v4); set it by hand", s)
	}
	if part == Auto && v.HasRev {
		v.Revision++
		return v.String(), nil
	}
	idx := map[Part]int{Major: 0, Minor: 1, Patch: 2}[part]
	if part == Auto {
		idx = min(len(v.Nums), 3) - 1
	}
	for len(v.Nums) <= idx {
		v.Nums = append(v.Nums, 0)
	}
	v.Nums[idx]++
	for i := idx + 1; i < len(v.Nums); i++ {
		v.Nums[i] = 0
	}
	if v.HasRev {
		v.Revision = 1
	}
	return v.String(), nil
}
