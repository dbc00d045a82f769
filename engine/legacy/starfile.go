package legacy

import (
	"sort"

	"github.com/bazelbuild/buildtools/build"

	"github.com/imgraph/imgraph/internal/starfmt"
)

// The .star files are built as syntax trees and printed by buildtools, so
// they come out buildifier-formatted (and `imgraph fmt --check` clean).

func str(s string) *build.StringExpr { return &build.StringExpr{Value: s} }

func kwarg(name string, v build.Expr) build.Expr {
	return &build.AssignExpr{LHS: &build.Ident{Name: name}, Op: "=", RHS: v}
}

func call(fn string, multiLine bool, args ...build.Expr) *build.CallExpr {
	return &build.CallExpr{X: &build.Ident{Name: fn}, List: args, ForceMultiLine: multiLine}
}

func strList(xs []string) *build.ListExpr {
	l := &build.ListExpr{ForceMultiLine: len(xs) > 2}
	for _, x := range xs {
		l.List = append(l.List, str(x))
	}
	return l
}

func strDict(m map[string]string) *build.DictExpr {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	d := &build.DictExpr{ForceMultiLine: true}
	for _, k := range keys {
		d.List = append(d.List, &build.KeyValueExpr{Key: str(k), Value: str(m[k])})
	}
	return d
}

// baseExpr renders the bases of keys (platform strings, in order): one
// string when they agree, else a dict in which the value shared by most
// platforms goes under broad ("linux" or "windows") and the rest under
// their own keys. It returns nil when every base is scratch.
func baseExpr(keys []string, vals map[string]string, broad string) build.Expr {
	if len(keys) == 0 {
		return nil
	}
	count := map[string]int{}
	for _, k := range keys {
		count[vals[k]]++
	}
	if len(count) == 1 {
		v := vals[keys[0]]
		if v == "" {
			return nil
		}
		return str(v)
	}
	common, best := "", 1
	for _, k := range keys { // first-seen order breaks ties deterministically
		if c := count[vals[k]]; c > best {
			common, best = vals[k], c
		}
	}
	d := &build.DictExpr{ForceMultiLine: true}
	orScratch := func(v string) string {
		if v == "" {
			return "scratch"
		}
		return v
	}
	if best > 1 {
		d.List = append(d.List, &build.KeyValueExpr{Key: str(broad), Value: str(orScratch(common))})
	}
	for _, k := range keys {
		if best > 1 && vals[k] == common {
			continue
		}
		d.List = append(d.List, &build.KeyValueExpr{Key: str(k), Value: str(orScratch(vals[k]))})
	}
	return d
}

func imageArgsExpr(args map[string]imageArgDecl) build.Expr {
	names := make([]string, 0, len(args))
	for n := range args {
		names = append(names, n)
	}
	sort.Strings(names)
	d := &build.DictExpr{ForceMultiLine: true}
	for _, n := range names {
		a := args[n]
		var v build.Expr = str(a.Label)
		if a.Template != "" {
			v = call("image_ref", false, str(a.Label), kwarg("platform", str(a.Template)))
		}
		d.List = append(d.List, &build.KeyValueExpr{Key: str(n), Value: v})
	}
	return d
}

// imageStar renders the IMAGE.star of a resolved image.
func imageStar(p *plan) []byte {
	img := p.img
	var args []build.Expr
	args = append(args, kwarg("version", str(img.Version)))
	if img.Repository != img.Dir {
		args = append(args, kwarg("repository", str(img.Repository)))
	}
	if !p.defaultLinux {
		var ls []string
		for _, pl := range p.linux {
			ls = append(ls, pl.String())
		}
		args = append(args, kwarg("platforms", strList(ls)))
	}
	var lkeys []string
	for _, pl := range p.linux {
		lkeys = append(lkeys, pl.String())
	}
	if b := baseExpr(lkeys, p.linuxBase, "linux"); b != nil {
		args = append(args, kwarg("base", b))
	}
	if p.dockerfile != "" && p.dockerfile != dockerfile {
		args = append(args, kwarg("dockerfile", str(p.dockerfile)))
	}
	if len(p.buildArgs) > 0 {
		args = append(args, kwarg("build_args", strDict(p.buildArgs)))
	}
	if len(p.imageArgs) > 0 {
		args = append(args, kwarg("image_args", imageArgsExpr(p.imageArgs)))
	}
	if len(p.windows) > 0 {
		wargs := []build.Expr{kwarg("os_versions", strList(p.windows))}
		var wkeys []string
		wvals := map[string]string{}
		for _, v := range p.windows {
			k := "windows/amd64/" + v
			wkeys = append(wkeys, k)
			wvals[k] = p.winBase[v]
		}
		b := baseExpr(wkeys, wvals, "windows")
		if b == nil {
			b = str("scratch") // declared so a Linux base dict never has to match Windows
		}
		wargs = append(wargs, kwarg("base", b))
		if p.winDockerfile != "" {
			wargs = append(wargs, kwarg("dockerfile", str(p.winDockerfile)))
		}
		if len(p.winBuildArgs) > 0 {
			wargs = append(wargs, kwarg("build_args", strDict(p.winBuildArgs)))
		}
		if len(p.winImageArgs) > 0 {
			wargs = append(wargs, kwarg("image_args", imageArgsExpr(p.winImageArgs)))
		}
		args = append(args, kwarg("windows", call("windows", true, wargs...)))
	}
	if len(p.prebuild) > 0 {
		l := &build.ListExpr{ForceMultiLine: true}
		for _, gb := range p.prebuild {
			gargs := []build.Expr{kwarg("package", str(gb.Package)), kwarg("out", str(gb.Out))}
			if gb.Ldflags != "" {
				gargs = append(gargs, kwarg("ldflags", str(gb.Ldflags)))
			}
			l.List = append(l.List, call("go_binary", false, gargs...))
		}
		args = append(args, kwarg("prebuild", l))
	}
	c := call("image", true, args...)
	c.Comments.Before = []build.Comment{{Token: "# Imported from the legacy layout (" + img.Dir + ") by `imgraph import`."}}
	f := &build.File{Type: build.TypeBuild, Stmt: []build.Expr{c}}
	return starfmt.Format(f)
}

// workspaceStar renders WORKSPACE.star: the legacy default platforms made
// explicit, the images root when it is not "images", and no registry
// (REGISTRY / --registry give it, as with the legacy scripts).
func workspaceStar(imagesDir string) []byte {
	var args []build.Expr
	if imagesDir != "images" {
		args = append(args, kwarg("images", str(imagesDir)))
	}
	args = append(args, kwarg("platforms", strList(defaultPlatforms)))
	c := call("workspace", true, args...)
	c.Comments.Before = []build.Comment{
		{Token: "# Imported from a legacy test/images tree by `imgraph import`."},
		{Token: "# The platforms are the legacy default (images without BASEIMAGE)."},
		{Token: "# No registry here: set $REGISTRY or pass --registry, as with the legacy scripts."},
	}
	return starfmt.Format(&build.File{Type: build.TypeBuild, Stmt: []build.Expr{c}})
}
