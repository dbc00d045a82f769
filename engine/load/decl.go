// Package load evaluates WORKSPACE.star and every IMAGE.star of a workspace
// into plain, immutable Go declarations. Each declaration keeps the
// file:line:col it came from so later phases (graph, presubmit) can point at
// the source.
package load

import (
	"fmt"
	"sort"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/platform"
)

// Pos is a source position; File is relative to the workspace root.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	if p.Line == 0 {
		return p.File
	}
	return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
}

// Error is a user error in a declaration; it always carries a position.
type Error struct {
	Pos Pos
	Msg string
}

func (e *Error) Error() string { return e.Pos.String() + ": " + e.Msg }

// Errorf makes an *Error.
func Errorf(pos Pos, format string, args ...any) *Error {
	return &Error{Pos: pos, Msg: fmt.Sprintf(format, args...)}
}

// ErrorList holds several declaration errors, reported together.
type ErrorList []*Error

func (l ErrorList) Error() string {
	s := ""
	for i, e := range l {
		if i > 0 {
			s += "\n"
		}
		s += e.Error()
	}
	return s
}

// Workspace is the evaluated workspace: settings plus every image.
type Workspace struct {
	Root           string // absolute path of the workspace root
	File           string // "WORKSPACE.star"
	ImagesDir      string // images root, relative to Root ("images")
	Registry       string // default registry ("" when none is configured)
	Platforms      []platform.Platform
	BuildKits      []BuildKit
	DockerBuilders []DockerBuilder
	Images         []*Image // sorted by label
	StarFiles      []string // every .star file evaluated, relative to Root, sorted
	byLabel        map[label.Label]*Image
}

// Image returns the image with label l.
func (w *Workspace) Image(l label.Label) (*Image, bool) {
	img, ok := w.byLabel[l]
	return img, ok
}

// Labels lists all image labels in order.
func (w *Workspace) Labels() []label.Label {
	out := make([]label.Label, len(w.Images))
	for i, img := range w.Images {
		out[i] = img.Label
	}
	return out
}

func (w *Workspace) index() {
	sort.Slice(w.Images, func(i, j int) bool { return w.Images[i].Label < w.Images[j].Label })
	w.byLabel = make(map[label.Label]*Image, len(w.Images))
	for _, img := range w.Images {
		w.byLabel[img.Label] = img
	}
}

// BuildKit is a buildkit(...) declaration.
type BuildKit struct {
	Addr      string
	Platforms []platform.Platform // empty: any Linux platform
	Pos       Pos
}

// DockerBuilder is a docker_builder(...) declaration: a Docker Engine daemon
// (normally a remote Windows host over TLS).
type DockerBuilder struct {
	OSVersion string
	Host      string
	CertDir   string
	Platforms []platform.Platform // extra (Linux) platforms it builds, for testing
	Insecure  bool
	Isolation string // "" (process) or "hyperv"
	Pos       Pos
}

// BaseKind tells what a base reference points at.
type BaseKind int

const (
	BaseScratch BaseKind = iota
	BaseInTree
	BaseExternal
)

// Base is a resolved base for one platform.
type Base struct {
	Kind  BaseKind    `json:"-"`
	Label label.Label `json:"label,omitempty"` // BaseInTree
	Ref   string      `json:"ref,omitempty"`   // BaseExternal
}

func (b Base) String() string {
	switch b.Kind {
	case BaseInTree:
		return string(b.Label)
	case BaseExternal:
		return b.Ref
	}
	return "scratch"
}

// BaseSpec is the declared base: one value, or selector → value.
type BaseSpec struct {
	Default *Base // a plain string
	BySel   []SelBase
	Pos     Pos
}

// SelBase is one entry of a base dict.
type SelBase struct {
	Selector platform.Selector
	Key      string
	Base     Base
}

// Declared reports whether the spec was given at all.
func (s BaseSpec) Declared() bool { return s.Default != nil || len(s.BySel) > 0 }

// Resolve picks the base for p: a plain value, or the most specific
// matching selector. ok is false when a dict has no matching key.
func (s BaseSpec) Resolve(p platform.Platform) (Base, bool) {
	if s.Default != nil {
		return *s.Default, true
	}
	if len(s.BySel) == 0 {
		return Base{Kind: BaseScratch}, true
	}
	best, bestScore := Base{}, 0
	for _, sb := range s.BySel {
		if ok, score := sb.Selector.Match(p); ok && score > bestScore {
			best, bestScore = sb.Base, score
		}
	}
	return best, bestScore > 0
}

// ImageArg is an image_args entry: the build arg receives the reference of
// Label for a platform. PlatformTemplate is "" (the node's own platform) or a
// platform string that may contain {os_version}, {os}, {arch}.
type ImageArg struct {
	Label            label.Label `json:"label"`
	PlatformTemplate string      `json:"platform,omitempty"`
	Pos              Pos         `json:"-"`
}

// Prebuild is a host step that writes files into the build context for one
// platform before the build (the legacy `make bin`).
type Prebuild struct {
	Kind string `json:"kind"` // "go_binary" or "deb_file"
	// go_binary
	Package string   `json:"package,omitempty"` // package directory, relative to the workspace root
	Out     string   `json:"out"`               // file name written into the context
	Srcs    []string `json:"srcs,omitempty"`    // input files, relative to the workspace root
	Ldflags string   `json:"ldflags,omitempty"`
	// deb_file
	DebPackage string `json:"deb_package,omitempty"`
	DebVersion string `json:"deb_version,omitempty"`
	DebPath    string `json:"deb_path,omitempty"`
	Pos        Pos    `json:"-"`
}

// Windows is a windows(...) declaration.
type Windows struct {
	OSVersions []string
	Base       BaseSpec
	Dockerfile string
	BuildArgs  map[string]string
	ImageArgs  map[string]ImageArg
	Pos        Pos
}

// Image is one IMAGE.star.
type Image struct {
	Label      label.Label
	Dir        string         // image directory, relative to the workspace root
	File       string         // IMAGE.star, relative to the workspace root
	Pos        Pos            // the image(...) call
	ArgPos     map[string]Pos // position of each keyword argument, when known
	Version    string
	Repository string
	Platforms  []platform.Platform // Linux platforms (workspace default when not declared)
	Base       BaseSpec
	Dockerfile string // relative to the image directory
	Context    string // relative to the image directory
	BuildArgs  map[string]string
	ImageArgs  map[string]ImageArg
	Labels     map[string]string
	Windows    *Windows
	Prebuild   []Prebuild
	Loads      []string // .star files this IMAGE.star loads, transitively, relative to Root
}

// PosOf returns the position of keyword argument name, or the call's.
func (img *Image) PosOf(name string) Pos {
	if p, ok := img.ArgPos[name]; ok {
		return p
	}
	return img.Pos
}

// AllPlatforms lists the image's node platforms: Linux ones, then
// windows/amd64/<os_version> per Windows variant.
func (img *Image) AllPlatforms() []platform.Platform {
	out := append([]platform.Platform(nil), img.Platforms...)
	if img.Windows != nil {
		for _, v := range img.Windows.OSVersions {
			out = append(out, platform.Platform{OS: "windows", Arch: "amd64", OSVersion: v})
		}
	}
	return out
}

// Node is the declaration of one (image, platform) with the Windows
// overrides applied: what the hash covers and what the executor builds.
type Node struct {
	Label      label.Label         `json:"label"`
	Platform   string              `json:"platform"`
	Version    string              `json:"version"`
	Repository string              `json:"repository"`
	Dockerfile string              `json:"dockerfile"` // relative to the workspace root
	Context    string              `json:"context"`    // relative to the workspace root
	Base       Base                `json:"base"`
	BuildArgs  map[string]string   `json:"build_args,omitempty"`
	ImageArgs  map[string]ImageArg `json:"image_args,omitempty"` // PlatformTemplate resolved
	Labels     map[string]string   `json:"labels,omitempty"`
	Prebuild   []Prebuild          `json:"prebuild,omitempty"`
}
