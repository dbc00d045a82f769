// Package starfmt formats .star files the one way imgraph writes them
// (fmt, import, bump all use it): buildifier's printer, without the
// BUILD-file rewrites that would reorder image() arguments alphabetically
// (version stays where the author put it, normally first).
package starfmt

import (
	"fmt"
	"path/filepath"

	"github.com/bazelbuild/buildtools/build"
)

// rewriter keeps buildifier's harmless rewrites and drops callsort,
// listsort and label, which assume Bazel rule semantics.
var rewriter = &build.Rewriter{
	RewriteSet: []string{"multiplus", "loadsort", "formatdocstrings", "reorderarguments", "editoctal"},
}

// Format prints a parsed file.
func Format(f *build.File) []byte { return build.FormatWithRewriter(rewriter, f) }

// Source parses and formats .star source. IMAGE.star and WORKSPACE.star
// are BUILD-like lists of calls; other .star files are libraries.
func Source(path string, data []byte) ([]byte, error) {
	var f *build.File
	var err error
	switch filepath.Base(path) {
	case "IMAGE.star", "WORKSPACE.star":
		f, err = build.ParseBuild(path, data)
	default:
		f, err = build.ParseBzl(path, data)
	}
	if err != nil {
		return nil, fmt.Errorf("%v (fix the syntax error, then run imgraph fmt again)", err)
	}
	return Format(f), nil
}
