package legacy

import (
	"fmt"
	"io"
	"strings"
)

// WriteText prints the report for people: images, in-tree edges with
// their file:line, lagging pinned versions, rewrites, review items, errors.
func (r *Report) WriteText(w io.Writer) {
	imported := 0
	for _, im := range r.Images {
		if im.Status == "imported" {
			imported++
		}
	}
	fmt.Fprintf(w, "Imported %d of %d images from %s into %s\n", imported, len(r.Images), r.Source, r.Out)
	for _, im := range r.Images {
		fmt.Fprintf(w, "  %-8s %-36s %s:%s  %s\n", im.Status, im.Label, im.Repository, im.Version, strings.Join(im.Platforms, " "))
	}
	fmt.Fprintf(w, "\nIn-tree edges (%d):\n", len(r.Edges))
	for _, e := range r.Edges {
		arg := ""
		if e.Arg != "" {
			arg = " " + e.Arg
		}
		fmt.Fprintf(w, "  %s -> %s (%s%s) at %s:%d: %s\n", e.From, e.To, e.Kind, arg, e.File, e.Line, e.Ref)
	}
	fmt.Fprintf(w, "\nLagging pinned versions (%d):\n", len(r.Lagging))
	for _, l := range r.Lagging {
		fmt.Fprintf(w, "  %s:%d: %s pins %s %s, current VERSION is %s\n", l.File, l.Line, l.Child, l.Parent, l.Pinned, l.Current)
	}
	fmt.Fprintf(w, "\nDockerfile lines rewritten (%d):\n", len(r.Rewrites))
	for _, rw := range r.Rewrites {
		switch {
		case rw.Old == "":
			fmt.Fprintf(w, "  %s:%d: inserted %q (%s)\n", rw.File, rw.Line, rw.New, rw.Why)
		case rw.New == "":
			fmt.Fprintf(w, "  %s:%d: deleted %q (%s)\n", rw.File, rw.Line, rw.Old, rw.Why)
		default:
			fmt.Fprintf(w, "  %s:%d: %q -> %q (%s)\n", rw.File, rw.Line, rw.Old, rw.New, rw.Why)
		}
	}
	fmt.Fprintf(w, "\nNeeds review (%d):\n", len(r.Review))
	for _, rv := range r.Review {
		loc := rv.File
		if rv.Line > 0 {
			loc = fmt.Sprintf("%s:%d", rv.File, rv.Line)
		}
		fmt.Fprintf(w, "  %s: %s: %s\n", rv.Image, loc, rv.Msg)
		for _, l := range rv.Lines {
			fmt.Fprintf(w, "      %s\n", l)
		}
	}
	if len(r.Skipped) > 0 {
		fmt.Fprintf(w, "\nNot part of any image, not imported: %s\n", strings.Join(r.Skipped, ", "))
	}
	if len(r.Errors) > 0 {
		fmt.Fprintf(w, "\nErrors (%d):\n", len(r.Errors))
		for _, e := range r.Errors {
			fmt.Fprintf(w, "  %s: %s\n", e.Image, e)
		}
	}
}
