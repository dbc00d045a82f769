// Package starfmt formats .star files the one way imgraph writes them
// (fmt, import, bump all use it): buildifier's printer, without the
// BUILD-file rewrites that would reorder image() arguments alphabetically
// (version stays where the author put it, normally first).
package starfmt

import (
	"errors"
	"fmt"
	"path/filepath"

	"github.com/bazelbuild/buildtools/build"
	"go.starlark.net/syntax"
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
		// buildtools says only "syntax error"; the Starlark parser (the
		// one imgraph evaluates with) says what it expected.
		var se syntax.Error
		if _, serr := looseOptions.Parse(path, data, 0); errors.As(serr, &se) {
			err = fmt.Errorf("%s: syntax error: %s", se.Pos, se.Msg)
		}
		return nil, fmt.Errorf("%v (fix the syntax error, then run imgraph fmt again)", err)
	}
	return Format(f), nil
}

// looseOptions accept every construct, so only real syntax errors are
// reported (the loader reports disabled features with their own message).
var looseOptions = &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}
