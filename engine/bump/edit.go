package bump

import (
	"fmt"
	"os"

	"github.com/bazelbuild/buildtools/build"

	"github.com/imgraph/imgraph/internal/atomicfile"
)

// Site is the version literal of an IMAGE.star.
type Site struct {
	File       string
	Line, Col  int
	Value      string
	start, end int // byte offsets of the literal, quotes included
}

func (s *Site) String() string { return fmt.Sprintf("%s:%d:%d", s.File, s.Line, s.Col) }

// NotLiteralError is returned when version is not a string literal in the
// IMAGE.star (a variable, a concatenation, a macro's default).
type NotLiteralError struct {
	File      string
	Line, Col int
	Expr      string // the expression as written, "" when version is absent
	Call      string
}

func (e *NotLiteralError) Error() string {
	if e.Expr == "" {
		return fmt.Sprintf("%s:%d:%d: %s(...) has no version = \"...\" argument to edit; the version comes from somewhere else (a macro default?), so change it there by hand", e.File, e.Line, e.Col, e.Call)
	}
	return fmt.Sprintf("%s:%d:%d: version = %s is not a string literal, so imgraph bump cannot edit it; change the value where it is defined, or write the version as a literal (version = \"1.2.3\")", e.File, e.Line, e.Col, e.Expr)
}

// FindVersion locates the version literal in src: the `version` keyword of
// the file's top-level image(...) call, or of the top-level macro call
// that takes one (go_image(..., version = "2.63.0")).
func FindVersion(file string, src []byte) (*Site, error) {
	f, err := build.ParseDefault(file, src)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", file, err)
	}
	var calls []*build.CallExpr
	for _, st := range f.Stmt {
		if c, ok := st.(*build.CallExpr); ok {
			calls = append(calls, c)
		}
	}
	// image(...) first, then any call with a version keyword.
	var call *build.CallExpr
	var arg *build.AssignExpr
	for pass := 0; pass < 2 && arg == nil; pass++ {
		for _, c := range calls {
			name := callName(c)
			if pass == 0 && name != "image" {
				continue
			}
			if call == nil && name == "image" {
				call = c
			}
			if a := versionArg(c); a != nil {
				call, arg = c, a
				break
			}
		}
	}
	if arg == nil {
		if call == nil {
			return nil, fmt.Errorf("%s: no top-level image(...) call found", file)
		}
		start, _ := call.Span()
		return nil, &NotLiteralError{File: file, Line: start.Line, Col: start.LineRune, Call: callName(call)}
	}
	str, ok := arg.RHS.(*build.StringExpr)
	start, end := arg.RHS.Span()
	if !ok || str.TripleQuote {
		return nil, &NotLiteralError{File: file, Line: start.Line, Col: start.LineRune, Expr: build.FormatString(arg.RHS), Call: callName(call)}
	}
	return &Site{File: file, Line: start.Line, Col: start.LineRune, Value: str.Value, start: start.Byte, end: end.Byte}, nil
}

func callName(c *build.CallExpr) string {
	if id, ok := c.X.(*build.Ident); ok {
		return id.Name
	}
	return build.FormatString(c.X)
}

func versionArg(c *build.CallExpr) *build.AssignExpr {
	for _, e := range c.List {
		if a, ok := e.(*build.AssignExpr); ok && a.Op == "=" {
			if id, ok := a.LHS.(*build.Ident); ok && id.Name == "version" {
				return a
			}
		}
	}
	return nil
}

// SetVersion replaces the version literal with v and returns the new
// source. Only the literal's bytes change, so comments, spacing and
// quoting style elsewhere are kept exactly.
func SetVersion(file string, src []byte, v string) ([]byte, *Site, error) {
	site, err := FindVersion(file, src)
	if err != nil {
		return nil, nil, err
	}
	q := src[site.start] // keep the file's quote character
	lit := string(q) + v + string(q)
	if q != '"' && q != '\'' {
		lit = fmt.Sprintf("%q", v)
	}
	out := make([]byte, 0, len(src)+len(lit))
	out = append(out, src[:site.start]...)
	out = append(out, lit...)
	out = append(out, src[site.end:]...)
	// The result must still parse and carry the new value.
	if got, err := FindVersion(file, out); err != nil || got.Value != v {
		return nil, nil, fmt.Errorf("%s: editing the version produced an unreadable file (%v); left unchanged", site, err)
	}
	return out, site, nil
}

// Result describes one edited file.
type Result struct {
	Site *Site  // position of the literal
	Old  string // previous version
	New  string
}

// File bumps the version in the IMAGE.star at path (shown as name in
// messages) and writes it atomically.
func File(path, name string, part Part) (*Result, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	site, err := FindVersion(name, src)
	if err != nil {
		return nil, err
	}
	next, err := Next(site.Value, part)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", site, err)
	}
	out, _, err := SetVersion(name, src, next)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteFile(path, out); err != nil {
		return nil, fmt.Errorf("write %s: %w", name, err)
	}
	return &Result{Site: site, Old: site.Value, New: next}, nil
}
