package affected

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/bump"
	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
)

// Violation kinds.
const (
	// KindNotBumped: the image's own inputs changed, its version did not.
	KindNotBumped = "version-not-bumped"
	// KindParentChanged: an image it builds on changed, its version did not.
	KindParentChanged = "parent-changed-version-not-bumped"
	// KindBackwards: the version is lower than in base.
	KindBackwards = "version-backwards"
	// KindReused: another image published this repository:version in base
	// with different content.
	KindReused = "version-reused"
	// KindRemovedInUse: an image was removed while others still build on it.
	KindRemovedInUse = "removed-image-still-used"
)

// Violation is one broken rule, pointing at the line to change.
type Violation struct {
	Kind    string      `json:"kind"`
	Label   label.Label `json:"label"`
	File    string      `json:"file"`
	Line    int         `json:"line"`
	Col     int         `json:"col"`
	Message string      `json:"message"`
	Fix     string      `json:"fix"`
}

func (v Violation) Pos() string { return load.Pos{File: v.File, Line: v.Line, Col: v.Col}.String() }

// Report is the outcome of presubmit.
type Report struct {
	// Result is nil when head's graph does not build (a removed image
	// still in use); the violations say why.
	Result     *Result     `json:"result"`
	Violations []Violation `json:"violations"`
}

// Check compares base and head and applies the version policy. An error
// means the comparison itself was impossible (a broken workspace).
func Check(base, head *Revision, res *Result) (*Report, error) {
	rep := &Report{Result: res, Violations: []Violation{}}
	if head.Graph == nil {
		vs := danglingUsers(base.Workspace, head.Workspace)
		if len(vs) == 0 {
			return nil, fmt.Errorf("%s: %w", head.Name, head.GraphErr)
		}
		rep.Violations = vs
		return rep, nil
	}
	if res == nil {
		return nil, errors.New("no comparison result")
	}
	for _, a := range res.Affected {
		img, _ := head.Workspace.Image(a.Label)
		at := img.PosOf("version")
		v := Violation{Label: a.Label, File: at.File, Line: at.Line, Col: at.Col}
		if a.New {
			continue
		}
		if a.Version == a.BaseVersion {
			why := strings.Join(a.Reasons, "; ")
			if a.Direct {
				v.Kind = KindNotBumped
				v.Message = fmt.Sprintf("%s changed (%s) but its version is still %s, so tag %s would be rebuilt with different content", a.Label, why, a.Version, a.Version)
			} else {
				v.Kind = KindParentChanged
				v.Message = fmt.Sprintf("%s builds on an image that changed (%s) but its version is still %s", a.Label, why, a.Version)
			}
			v.Fix = fixBump(a.Label, a.Version)
			rep.Violations = append(rep.Violations, v)
		}
	}
	for _, img := range head.Workspace.Images {
		b, ok := base.Workspace.Image(img.Label)
		if !ok || b.Version == img.Version {
			continue
		}
		if c, ok := bump.Compare(img.Version, b.Version); ok && c < 0 {
			at := img.PosOf("version")
			fix := fmt.Sprintf("set version to one above %s", b.Version)
			if next, err := bump.Next(b.Version, bump.Auto); err == nil {
				fix = fmt.Sprintf("set version = %q (or any version above %s) at %s", next, b.Version, at)
			}
			rep.Violations = append(rep.Violations, Violation{
				Kind: KindBackwards, Label: img.Label, File: at.File, Line: at.Line, Col: at.Col,
				Message: fmt.Sprintf("%s: version went backwards, from %s to %s", img.Label, b.Version, img.Version),
				Fix:     fix,
			})
		}
	}
	rep.Violations = append(rep.Violations, reused(base, head)...)
	sortViolations(rep.Violations)
	return rep, nil
}

func fixBump(l label.Label, v string) string {
	if next, err := bump.Next(v, bump.Auto); err == nil {
		return fmt.Sprintf("imgraph bump %s   (%s -> %s; --part major|minor|patch to choose)", l, v, next)
	}
	return fmt.Sprintf("raise the version of %s by hand (%q has no shape imgraph bump understands)", l, v)
}

// reused finds head images publishing a repository:version that another
// label published in base, with different content (a renamed directory
// that kept its tag is fine only when nothing else changed).
func reused(base, head *Revision) []Violation {
	type key struct{ repo, version string }
	owner := map[key]*load.Image{}
	for _, img := range base.Workspace.Images {
		owner[key{img.Repository, img.Version}] = img
	}
	var out []Violation
	for _, img := range head.Workspace.Images {
		prev, ok := owner[key{img.Repository, img.Version}]
		if !ok || prev.Label == img.Label || sameContent(base, head, prev.Label, img.Label) {
			continue
		}
		at := img.PosOf("version")
		out = append(out, Violation{
			Kind: KindReused, Label: img.Label, File: at.File, Line: at.Line, Col: at.Col,
			Message: fmt.Sprintf("%s publishes %s:%s, which %s (%s) published in base with different content", img.Label, img.Repository, img.Version, prev.Label, prev.File),
			Fix:     "give it a version that was never published: " + fixBump(img.Label, img.Version),
		})
	}
	return out
}

// sameContent compares everything but the declaration (which names the
// label) for every platform of the two images.
func sameContent(base, head *Revision, was, is label.Label) bool {
	img, _ := head.Workspace.Image(is)
	prev, _ := base.Workspace.Image(was)
	if len(img.AllPlatforms()) != len(prev.AllPlatforms()) {
		return false
	}
	for _, p := range img.AllPlatforms() {
		h, okH := head.Digests[graph.NodeID{Label: is, Platform: p}]
		b, okB := base.Digests[graph.NodeID{Label: was, Platform: p}]
		if !okH || !okB || len(h.Parts) != len(b.Parts) {
			return false
		}
		for k, d := range h.Parts {
			if k != "declaration" && b.Parts[k] != d {
				return false
			}
		}
	}
	return true
}

// danglingUsers names, for each image removed since base, the head images
// that still refer to it.
func danglingUsers(base, head *load.Workspace) []Violation {
	var out []Violation
	add := func(user *load.Image, to label.Label, pos load.Pos, what string) {
		if _, ok := head.Image(to); ok {
			return
		}
		gone, ok := base.Image(to)
		if !ok {
			return // never existed: an ordinary unknown label, not a removal
		}
		out = append(out, Violation{
			Kind: KindRemovedInUse, Label: user.Label, File: pos.File, Line: pos.Line, Col: pos.Col,
			Message: fmt.Sprintf("%s was removed (%s is gone) but %s still uses it as %s", to, gone.File, user.Label, what),
			Fix:     fmt.Sprintf("point %s's %s at another image, or keep %s", user.Label, what, gone.Dir),
		})
	}
	bases := func(user *load.Image, spec load.BaseSpec, pos load.Pos) {
		if spec.Default != nil && spec.Default.Kind == load.BaseInTree {
			add(user, spec.Default.Label, pos, "base")
		}
		for _, sb := range spec.BySel {
			if sb.Base.Kind == load.BaseInTree {
				add(user, sb.Base.Label, pos, fmt.Sprintf("base[%q]", sb.Key))
			}
		}
	}
	args := func(user *load.Image, m map[string]load.ImageArg) {
		for k, a := range m {
			add(user, a.Label, a.Pos, fmt.Sprintf("image_args %q", k))
		}
	}
	for _, img := range head.Images {
		bases(img, img.Base, img.PosOf("base"))
		args(img, img.ImageArgs)
		if w := img.Windows; w != nil {
			bases(img, w.Base, w.Pos)
			args(img, w.ImageArgs)
		}
	}
	// One violation per (user, removed image, role).
	seen := map[string]bool{}
	uniq := out[:0]
	for _, v := range out {
		k := v.Pos() + v.Message
		if !seen[k] {
			seen[k] = true
			uniq = append(uniq, v)
		}
	}
	sortViolations(uniq)
	return uniq
}

func sortViolations(vs []Violation) {
	sort.SliceStable(vs, func(i, j int) bool {
		if vs[i].Label != vs[j].Label {
			return vs[i].Label < vs[j].Label
		}
		return vs[i].Kind < vs[j].Kind
	})
}
