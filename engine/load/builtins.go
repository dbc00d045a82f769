package load

import (
	"fmt"
	"net/url"
	"path"
	"regexp"
	"sort"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/platform"

	"github.com/imgraph/imgraph/internal/pathsafe"
)

// One predeclared set for every file; each builtin checks where it may be
// called, so a misplaced call gets a message rather than "undefined".
var builtins = starlark.StringDict{
	"workspace":      starlark.NewBuiltin("workspace", builtinWorkspace),
	"buildkit":       starlark.NewBuiltin("buildkit", builtinBuildKit),
	"docker_builder": starlark.NewBuiltin("docker_builder", builtinDockerBuilder),
	"image":          starlark.NewBuiltin("image", builtinImage),
	"windows":        starlark.NewBuiltin("windows", builtinWindows),
	"go_binary":      starlark.NewBuiltin("go_binary", builtinGoBinary),
	"deb_file":       starlark.NewBuiltin("deb_file", builtinDebFile),
	"image_ref":      starlark.NewBuiltin("image_ref", builtinImageRef),
	"glob":           starlark.NewBuiltin("glob", builtinGlob),
	"struct":         starlark.NewBuiltin("struct", starlarkstruct.Make),
}

type workspaceCollector struct {
	ws     *Workspace
	called bool
}

type imageCollector struct {
	ws   *Workspace
	file string
	dir  string
	lbl  label.Label
	ast  *syntax.File
	img  *Image
	l    *loader
}

// declValue wraps a declaration returned by windows(), go_binary() etc. so
// it can be passed around in Starlark; it is immutable.
type declValue struct {
	typ string
	v   any
}

func (d *declValue) String() string        { return d.typ + "(...)" }
func (d *declValue) Type() string          { return d.typ }
func (d *declValue) Freeze()               {}
func (d *declValue) Truth() starlark.Bool  { return true }
func (d *declValue) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable: %s", d.typ) }

// callPos is the position of the current builtin call, as seen in file
// (the outermost frame in that file when the call comes through a macro).
func callPos(th *starlark.Thread, file string) Pos {
	stack := th.CallStack()
	if file != "" {
		for _, fr := range stack {
			if fr.Pos.Filename() == file {
				return toPos(fr.Pos)
			}
		}
	}
	return toPos(th.CallFrame(1).Pos)
}

// argErr is a positioned error about one argument.
func argErr(pos Pos, fn, arg, format string, a ...any) *Error {
	return Errorf(pos, "%s(): argument %q: %s", fn, arg, fmt.Sprintf(format, a...))
}

type kw struct {
	fn    string
	pos   Pos
	args  map[string]starlark.Value
	order []string
	apos  map[string]Pos
}

// parseKwargs accepts keyword arguments only and rejects unknown names,
// suggesting the closest known one. Errors about one argument point at that
// argument when the call at pos is written in a file the loader parsed.
func parseKwargs(th *starlark.Thread, fn string, pos Pos, args starlark.Tuple, kwargs []starlark.Tuple, known ...string) (*kw, error) {
	if len(args) > 0 {
		return nil, Errorf(pos, "%s(): takes keyword arguments only (write %s(%s = ...))", fn, fn, known[0])
	}
	k := &kw{fn: fn, pos: pos, args: map[string]starlark.Value{}, apos: callArgPositions(th, pos)}
	for _, kv := range kwargs {
		name := string(kv[0].(starlark.String))
		if !contains(known, name) {
			msg := fmt.Sprintf("%s(): unknown argument %q", fn, name)
			if s := closest(name, known); s != "" {
				msg += fmt.Sprintf(" (did you mean %q?)", s)
			}
			msg += "; known arguments: " + strings.Join(known, ", ")
			return nil, Errorf(k.at(name), "%s", msg)
		}
		k.args[name] = kv[1]
		k.order = append(k.order, name)
	}
	return k, nil
}

// callArgPositions returns the keyword argument positions of the call at
// pos, read from the syntax tree of pos.File (nil when it is unknown).
func callArgPositions(th *starlark.Thread, pos Pos) map[string]Pos {
	l, _ := th.Local("loader").(*loader)
	if l == nil || pos.Line == 0 {
		return nil
	}
	pf := l.parse(pos.File)
	if pf.file == nil {
		return nil
	}
	return argPositions(pf.file, pos)
}

func (k *kw) at(name string) Pos {
	if p, ok := k.apos[name]; ok {
		return p
	}
	return k.pos
}

func (k *kw) str(name string, required bool) (string, bool, error) {
	v, ok := k.args[name]
	if !ok || v == starlark.None {
		if required {
			return "", false, Errorf(k.pos, "%s(): missing required argument %q", k.fn, name)
		}
		return "", false, nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return "", false, argErr(k.at(name), k.fn, name, "got %s, want string", v.Type())
	}
	return s, true, nil
}

func (k *kw) boolean(name string) (bool, error) {
	v, ok := k.args[name]
	if !ok {
		return false, nil
	}
	b, ok := v.(starlark.Bool)
	if !ok {
		return false, argErr(k.at(name), k.fn, name, "got %s, want bool (True or False)", v.Type())
	}
	return bool(b), nil
}

func (k *kw) strList(name string) ([]string, bool, error) {
	v, ok := k.args[name]
	if !ok || v == starlark.None {
		return nil, false, nil
	}
	it, ok := v.(starlark.Indexable)
	if !ok {
		return nil, false, argErr(k.at(name), k.fn, name, "got %s, want list of strings", v.Type())
	}
	if _, isStr := v.(starlark.String); isStr {
		return nil, false, argErr(k.at(name), k.fn, name, "got string, want list of strings (write [%s])", v.String())
	}
	out := make([]string, it.Len())
	for i := range out {
		s, ok := starlark.AsString(it.Index(i))
		if !ok {
			return nil, false, argErr(k.at(name), k.fn, name, "element %d: got %s, want string", i, it.Index(i).Type())
		}
		out[i] = s
	}
	return out, true, nil
}

func (k *kw) strDict(name string) (map[string]string, error) {
	v, ok := k.args[name]
	if !ok || v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, argErr(k.at(name), k.fn, name, "got %s, want dict of string to string", v.Type())
	}
	out := map[string]string{}
	for _, item := range d.Items() {
		ks, ok1 := starlark.AsString(item[0])
		vs, ok2 := starlark.AsString(item[1])
		if !ok1 || !ok2 {
			return nil, argErr(k.at(name), k.fn, name, "entry %s: %s: got %s to %s, want string to string", item[0], item[1], item[0].Type(), item[1].Type())
		}
		out[ks] = vs
	}
	return out, nil
}

func (k *kw) platforms(name string) ([]platform.Platform, bool, error) {
	list, ok, err := k.strList(name)
	if err != nil || !ok {
		return nil, ok, err
	}
	var out []platform.Platform
	seen := map[string]bool{}
	for _, s := range list {
		p, err := platform.Parse(s)
		if err != nil {
			return nil, false, argErr(k.at(name), k.fn, name, "%v", err)
		}
		if seen[p.String()] {
			return nil, false, argErr(k.at(name), k.fn, name, "platform %s listed twice", p)
		}
		seen[p.String()] = true
		out = append(out, p)
	}
	return out, true, nil
}

// --- WORKSPACE.star ---

func workspaceOf(th *starlark.Thread, fn string) (*workspaceCollector, error) {
	c, _ := th.Local("workspace").(*workspaceCollector)
	if c == nil {
		return nil, Errorf(callPos(th, ""), "%s() may only be called in %s", fn, WorkspaceFile)
	}
	return c, nil
}

func builtinWorkspace(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := workspaceOf(th, b.Name())
	if err != nil {
		return nil, err
	}
	pos := callPos(th, WorkspaceFile)
	if c.called {
		return nil, Errorf(pos, "workspace() called twice; merge the settings into one call")
	}
	c.called = true
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "images", "registry", "platforms")
	if err != nil {
		return nil, err
	}
	if s, ok, err := k.str("images", false); err != nil {
		return nil, err
	} else if ok {
		clean := path.Clean(s)
		if path.IsAbs(clean) || clean == ".." || strings.HasPrefix(clean, "../") {
			return nil, argErr(k.at("images"), "workspace", "images", "%q escapes the workspace; give a directory below the workspace root", s)
		}
		c.ws.ImagesDir = clean
	}
	if s, _, err := k.str("registry", false); err != nil {
		return nil, err
	} else {
		if err := CheckRegistry(s); s != "" && err != nil {
			return nil, argErr(k.at("registry"), "workspace", "registry", "%v", err)
		}
		c.ws.Registry = s
	}
	ps, _, err := k.platforms("platforms")
	if err != nil {
		return nil, err
	}
	c.ws.Platforms = ps
	return starlark.None, nil
}

func builtinBuildKit(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := workspaceOf(th, b.Name())
	if err != nil {
		return nil, err
	}
	pos := callPos(th, WorkspaceFile)
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "addr", "platforms")
	if err != nil {
		return nil, err
	}
	addr, _, err := k.str("addr", true)
	if err != nil {
		return nil, err
	}
	ps, _, err := k.platforms("platforms")
	if err != nil {
		return nil, err
	}
	c.ws.BuildKits = append(c.ws.BuildKits, BuildKit{Addr: addr, Platforms: ps, Pos: pos})
	return starlark.None, nil
}

func builtinDockerBuilder(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c, err := workspaceOf(th, b.Name())
	if err != nil {
		return nil, err
	}
	pos := callPos(th, WorkspaceFile)
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "os_version", "host", "cert_dir", "platforms", "insecure", "isolation")
	if err != nil {
		return nil, err
	}
	var d DockerBuilder
	d.Pos = pos
	if d.OSVersion, _, err = k.str("os_version", false); err != nil {
		return nil, err
	}
	if d.OSVersion != "" {
		if _, ok := platform.WindowsReleases[d.OSVersion]; !ok {
			return nil, argErr(k.at("os_version"), b.Name(), "os_version", "%q is not a known Windows release (%s)", d.OSVersion, strings.Join(platform.KnownWindowsReleases(), ", "))
		}
	}
	if d.Host, _, err = k.str("host", false); err != nil {
		return nil, err
	}
	// An empty host is allowed: REMOTE_DOCKER_URL_<OS_VERSION> may give it.
	if d.Host != "" && !validDockerHost(d.Host) {
		return nil, argErr(k.at("host"), b.Name(), "host", "%q is not a Docker host URL; write tcp://HOST:PORT (e.g. tcp://win2022:2376), or unix:///PATH, npipe:////./pipe/NAME, ssh://USER@HOST", d.Host)
	}
	if d.CertDir, _, err = k.str("cert_dir", false); err != nil {
		return nil, err
	}
	if d.Platforms, _, err = k.platforms("platforms"); err != nil {
		return nil, err
	}
	if d.Insecure, err = k.boolean("insecure"); err != nil {
		return nil, err
	}
	if d.Isolation, _, err = k.str("isolation", false); err != nil {
		return nil, err
	}
	if d.Isolation != "" && d.Isolation != "process" && d.Isolation != "hyperv" {
		return nil, argErr(k.at("isolation"), b.Name(), "isolation", "%q: want \"process\" or \"hyperv\"", d.Isolation)
	}
	if d.OSVersion == "" && len(d.Platforms) == 0 {
		return nil, Errorf(pos, "docker_builder(): give os_version (a Windows release such as \"ltsc2022\") or platforms")
	}
	c.ws.DockerBuilders = append(c.ws.DockerBuilders, d)
	return starlark.None, nil
}

// --- IMAGE.star ---

func collectorOf(th *starlark.Thread) *imageCollector {
	c, _ := th.Local("collector").(*imageCollector)
	return c
}

var imageArgs = []string{"version", "repository", "platforms", "base", "dockerfile", "context", "build_args", "image_args", "labels", "windows", "prebuild"}

func builtinImage(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := collectorOf(th)
	if c == nil {
		return nil, Errorf(callPos(th, ""), "image() may only be called while evaluating an %s (a macro in a library may call it; the library's top level may not)", ImageFile)
	}
	pos := callPos(th, c.file)
	if c.img != nil {
		return nil, Errorf(pos, "second image() call; an %s declares exactly one image (the first is at %s)", ImageFile, c.img.Pos)
	}
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, imageArgs...)
	if err != nil {
		return nil, err
	}
	img := &Image{Label: c.lbl, Dir: c.dir, File: c.file, Pos: pos, ArgPos: k.apos}
	if img.Version, _, err = k.str("version", true); err != nil {
		return nil, err
	}
	if !validTag.MatchString(img.Version) {
		return nil, argErr(k.at("version"), "image", "version", "%q is not a valid tag (no spaces, ':', '/' or '@'; letters, digits, '_', '.' and '-' only, not starting with '.' or '-', at most 128 characters)", img.Version)
	}
	var repoGiven bool
	if img.Repository, repoGiven, err = k.str("repository", false); err != nil {
		return nil, err
	}
	switch {
	case repoGiven && !validRepository.MatchString(img.Repository):
		return nil, argErr(k.at("repository"), "image", "repository", "%q is not a valid repository name (lowercase letters and digits, separated by '.', '_', '-' or '/'), e.g. %q", img.Repository, repositoryFrom(img.Repository))
	case img.Repository == "":
		img.Repository = c.lbl.Path()
		if !validRepository.MatchString(img.Repository) {
			// The registry would refuse the name only at push time.
			return nil, Errorf(pos, "image(): the repository defaults to the image's path %q, which is not a valid repository name (lowercase letters and digits, separated by '.', '_', '-' or '/'); set repository = %q or rename the directory", img.Repository, repositoryFrom(img.Repository))
		}
	}
	var declared bool
	if img.Platforms, declared, err = k.platforms("platforms"); err != nil {
		return nil, err
	}
	if !declared {
		img.Platforms = append(img.Platforms, c.ws.Platforms...)
	}
	for _, p := range img.Platforms {
		if p.IsWindows() {
			return nil, argErr(k.at("platforms"), "image", "platforms", "%s: declare Windows variants with windows = windows(os_versions = [%q])", p, p.OSVersion)
		}
	}
	if img.Base, err = baseSpec(k, "base"); err != nil {
		return nil, err
	}
	img.Dockerfile = "Dockerfile"
	if s, ok, err := k.str("dockerfile", false); err != nil {
		return nil, err
	} else if ok {
		img.Dockerfile = s
	}
	img.Context = "."
	if s, ok, err := k.str("context", false); err != nil {
		return nil, err
	} else if ok {
		img.Context = s
	}
	if img.BuildArgs, err = k.strDict("build_args"); err != nil {
		return nil, err
	}
	if img.ImageArgs, err = imageArgsOf(k, "image_args"); err != nil {
		return nil, err
	}
	if img.Labels, err = k.strDict("labels"); err != nil {
		return nil, err
	}
	if v, ok := k.args["windows"]; ok && v != starlark.None {
		var w *Windows
		if d, isDecl := v.(*declValue); isDecl {
			w, _ = d.v.(*Windows)
		}
		if w == nil {
			return nil, argErr(k.at("windows"), "image", "windows", "got %s, want windows(os_versions = [...])", v.Type())
		}
		img.Windows = w
	}
	if v, ok := k.args["prebuild"]; ok && v != starlark.None {
		list, ok := v.(*starlark.List)
		if !ok {
			return nil, argErr(k.at("prebuild"), "image", "prebuild", "got %s, want a list of go_binary(...) or deb_file(...)", v.Type())
		}
		for i := 0; i < list.Len(); i++ {
			d, ok := list.Index(i).(*declValue)
			var pb *Prebuild
			if ok {
				pb, ok = d.v.(*Prebuild)
			}
			if !ok {
				return nil, argErr(k.at("prebuild"), "image", "prebuild", "element %d: got %s, want go_binary(...) or deb_file(...)", i, list.Index(i).Type())
			}
			img.Prebuild = append(img.Prebuild, *pb)
		}
	}
	if err := c.validate(img, k); err != nil {
		return nil, err
	}
	c.img = img
	return starlark.None, nil
}

// argPositions finds the image(...) call at pos in the file's syntax tree
// and returns the position of each keyword argument.
func argPositions(f *syntax.File, pos Pos) map[string]Pos {
	out := map[string]Pos{}
	if f == nil {
		return out
	}
	syntax.Walk(f, func(n syntax.Node) bool {
		call, ok := n.(*syntax.CallExpr)
		if !ok {
			return true
		}
		if int(call.Lparen.Line) != pos.Line || int(call.Lparen.Col) != pos.Col {
			return true
		}
		for _, a := range call.Args {
			if bin, ok := a.(*syntax.BinaryExpr); ok && bin.Op == syntax.EQ {
				if id, ok := bin.X.(*syntax.Ident); ok {
					start, _ := bin.Span()
					out[id.Name] = toPos(start)
				}
			}
		}
		return false
	})
	return out
}

func baseSpec(k *kw, name string) (BaseSpec, error) {
	spec := BaseSpec{Pos: k.at(name)}
	v, ok := k.args[name]
	if !ok || v == starlark.None {
		return spec, nil
	}
	if s, ok := starlark.AsString(v); ok {
		b, err := parseBase(s)
		if err != nil {
			return spec, argErr(k.at(name), k.fn, name, "%v", err)
		}
		spec.Default = &b
		return spec, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return spec, argErr(k.at(name), k.fn, name, "got %s, want a string (//label, an image reference or \"scratch\") or a dict from platform selector to one", v.Type())
	}
	for _, item := range d.Items() {
		ks, ok1 := starlark.AsString(item[0])
		vs, ok2 := starlark.AsString(item[1])
		if !ok1 || !ok2 {
			return spec, argErr(k.at(name), k.fn, name, "entry %s: %s: want string keys and values", item[0], item[1])
		}
		sel, err := platform.ParseSelector(ks)
		if err != nil {
			return spec, argErr(k.at(name), k.fn, name, "%v", err)
		}
		b, err := parseBase(vs)
		if err != nil {
			return spec, argErr(k.at(name), k.fn, name, "%q: %v", ks, err)
		}
		spec.BySel = append(spec.BySel, SelBase{Selector: sel, Key: ks, Base: b})
	}
	sort.Slice(spec.BySel, func(i, j int) bool { return spec.BySel[i].Key < spec.BySel[j].Key })
	return spec, nil
}

func parseBase(s string) (Base, error) {
	switch {
	case s == "scratch" || s == "":
		return Base{Kind: BaseScratch}, nil
	case strings.HasPrefix(s, "//"):
		l, err := label.Parse(s)
		if err != nil {
			return Base{}, err
		}
		return Base{Kind: BaseInTree, Label: l}, nil
	}
	if strings.ContainsAny(s, " \t\n") {
		return Base{}, fmt.Errorf("%q is not an image reference", s)
	}
	return Base{Kind: BaseExternal, Ref: s}, nil
}

func imageArgsOf(k *kw, name string) (map[string]ImageArg, error) {
	v, ok := k.args[name]
	if !ok || v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, argErr(k.at(name), k.fn, name, "got %s, want dict from build-arg name to \"//label\" or image_ref(...)", v.Type())
	}
	out := map[string]ImageArg{}
	for _, item := range d.Items() {
		ks, ok := starlark.AsString(item[0])
		if !ok {
			return nil, argErr(k.at(name), k.fn, name, "key %s: want a build-arg name (string)", item[0])
		}
		var ia ImageArg
		switch val := item[1].(type) {
		case starlark.String:
			l, err := label.Parse(string(val))
			if err != nil || !strings.HasPrefix(string(val), "//") {
				return nil, argErr(k.at(name), k.fn, name, "%q: want an in-tree label such as \"//agnhost\"", string(val))
			}
			ia.Label = l
		case *declValue:
			r, ok := val.v.(*ImageArg)
			if !ok {
				return nil, argErr(k.at(name), k.fn, name, "%q: got %s, want \"//label\" or image_ref(...)", ks, val.Type())
			}
			ia = *r
		default:
			return nil, argErr(k.at(name), k.fn, name, "%q: got %s, want \"//label\" or image_ref(...)", ks, item[1].Type())
		}
		if ia.Pos.Line == 0 {
			ia.Pos = k.at(name)
		}
		out[ks] = ia
	}
	return out, nil
}

func builtinWindows(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	pos := callPos(th, fileOf(th))
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "os_versions", "base", "dockerfile", "build_args", "image_args")
	if err != nil {
		return nil, err
	}
	w := &Windows{Pos: pos}
	vs, ok, err := k.strList("os_versions")
	if err != nil {
		return nil, err
	}
	if !ok || len(vs) == 0 {
		return nil, Errorf(pos, "windows(): missing os_versions, e.g. windows(os_versions = [\"ltsc2022\"])")
	}
	seen := map[string]bool{}
	for _, v := range vs {
		if _, ok := platform.WindowsReleases[v]; !ok {
			return nil, argErr(k.at("os_versions"), "windows", "os_versions", "%q is not a known Windows release (%s)", v, strings.Join(platform.KnownWindowsReleases(), ", "))
		}
		if seen[v] {
			return nil, argErr(k.at("os_versions"), "windows", "os_versions", "%q listed twice", v)
		}
		seen[v] = true
	}
	w.OSVersions = vs
	if w.Base, err = baseSpec(k, "base"); err != nil {
		return nil, err
	}
	if w.Dockerfile, _, err = k.str("dockerfile", false); err != nil {
		return nil, err
	}
	if w.BuildArgs, err = k.strDict("build_args"); err != nil {
		return nil, err
	}
	if w.ImageArgs, err = imageArgsOf(k, "image_args"); err != nil {
		return nil, err
	}
	return &declValue{typ: "windows", v: w}, nil
}

func fileOf(th *starlark.Thread) string {
	if c := collectorOf(th); c != nil {
		return c.file
	}
	return ""
}

func builtinImageRef(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	pos := callPos(th, fileOf(th))
	var lbl, plat string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "label", &lbl, "platform?", &plat); err != nil {
		return nil, Errorf(pos, "%v", err)
	}
	l, err := label.Parse(lbl)
	if err != nil || !strings.HasPrefix(lbl, "//") {
		return nil, Errorf(pos, "image_ref(): %q is not an in-tree label such as \"//agnhost\"", lbl)
	}
	if plat != "" {
		probe := strings.NewReplacer("{os_version}", "ltsc2022", "{os}", "linux", "{arch}", "amd64").Replace(plat)
		if _, err := platform.Parse(probe); err != nil {
			// platform.Parse names the probed string; say what was written.
			at := pos
			if p, ok := callArgPositions(th, pos)["platform"]; ok {
				at = p
			}
			return nil, Errorf(at, "image_ref(): argument \"platform\" = %q: %v (placeholders: {os_version}, {os}, {arch})", plat, err)
		}
	}
	return &declValue{typ: "image_ref", v: &ImageArg{Label: l, PlatformTemplate: plat, Pos: pos}}, nil
}

func builtinGoBinary(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := collectorOf(th)
	pos := callPos(th, fileOf(th))
	if c == nil {
		return nil, Errorf(pos, "go_binary() may only be called while evaluating an %s", ImageFile)
	}
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "package", "out", "srcs", "ldflags")
	if err != nil {
		return nil, err
	}
	pb := &Prebuild{Kind: "go_binary", Pos: pos}
	if pb.Package, _, err = k.str("package", true); err != nil {
		return nil, err
	}
	if pb.Out, _, err = k.str("out", true); err != nil {
		return nil, err
	}
	if pb.Ldflags, _, err = k.str("ldflags", false); err != nil {
		return nil, err
	}
	if err := checkOut(k.at("out"), b.Name(), pb.Out); err != nil {
		return nil, err
	}
	pkgDir := path.Clean(path.Join(c.dir, pb.Package))
	if escapes(pkgDir) {
		return nil, argErr(k.at("package"), b.Name(), "package", "%q escapes the workspace", pb.Package)
	}
	srcs, ok, err := k.strList("srcs")
	if err != nil {
		return nil, err
	}
	l := th.Local("loader").(*loader)
	if !ok {
		// Default inputs: every .go file below the package, plus the module files.
		srcs, err = l.glob(pos, pkgDir, []string{"**/*.go"}, nil)
		if err != nil {
			return nil, err
		}
		for i := range srcs {
			srcs[i] = path.Join(pkgDir, srcs[i])
		}
		srcs = append(srcs, l.moduleFiles(pkgDir)...)
	} else {
		for i, s := range srcs {
			p := path.Clean(path.Join(c.dir, s))
			if escapes(p) {
				return nil, argErr(k.at("srcs"), b.Name(), "srcs", "%q escapes the workspace", s)
			}
			srcs[i] = p
		}
	}
	sort.Strings(srcs)
	pb.Srcs = srcs
	pb.Package = pkgDir
	return &declValue{typ: "go_binary", v: pb}, nil
}

func builtinDebFile(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	pos := callPos(th, fileOf(th))
	k, err := parseKwargs(th, b.Name(), pos, args, kwargs, "package", "version", "path", "out")
	if err != nil {
		return nil, err
	}
	pb := &Prebuild{Kind: "deb_file", Pos: pos}
	if pb.DebPackage, _, err = k.str("package", true); err != nil {
		return nil, err
	}
	if pb.DebVersion, _, err = k.str("version", false); err != nil {
		return nil, err
	}
	if pb.DebPath, _, err = k.str("path", true); err != nil {
		return nil, err
	}
	if pb.Out, _, err = k.str("out", true); err != nil {
		return nil, err
	}
	if err := checkOut(k.at("out"), b.Name(), pb.Out); err != nil {
		return nil, err
	}
	return &declValue{typ: "deb_file", v: pb}, nil
}

func checkOut(pos Pos, fn, out string) error {
	if out == "" || strings.ContainsAny(out, "/\\") || out == "." || out == ".." {
		return argErr(pos, fn, "out", "%q must be a file name; prebuild outputs are placed at the root of the build context", out)
	}
	return nil
}

// escapes reports whether a cleaned relative path leaves the workspace.
func escapes(p string) bool { return pathsafe.Escapes(p) }

func builtinGlob(th *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	c := collectorOf(th)
	pos := callPos(th, fileOf(th))
	if c == nil {
		return nil, Errorf(pos, "glob() may only be called while evaluating an %s (it is relative to the image directory)", ImageFile)
	}
	var include, exclude *starlark.List
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "include", &include, "exclude?", &exclude); err != nil {
		return nil, Errorf(pos, "%v", err)
	}
	toStrings := func(l *starlark.List) ([]string, error) {
		if l == nil {
			return nil, nil
		}
		out := make([]string, l.Len())
		for i := range out {
			s, ok := starlark.AsString(l.Index(i))
			if !ok {
				return nil, Errorf(pos, "glob(): pattern %d: got %s, want string", i, l.Index(i).Type())
			}
			out[i] = s
		}
		return out, nil
	}
	inc, err := toStrings(include)
	if err != nil {
		return nil, err
	}
	exc, err := toStrings(exclude)
	if err != nil {
		return nil, err
	}
	l := th.Local("loader").(*loader)
	files, err := l.glob(pos, c.dir, inc, exc)
	if err != nil {
		return nil, err
	}
	vals := make([]starlark.Value, len(files))
	for i, f := range files {
		vals[i] = starlark.String(f)
	}
	return starlark.NewList(vals), nil
}

func contains(xs []string, x string) bool {
	for _, v := range xs {
		if v == x {
			return true
		}
	}
	return false
}

// validTag is the OCI distribution tag grammar.
var validTag = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$`)

// validRepository is the distribution reference grammar of a repository
// path (without a registry host).
var validRepository = regexp.MustCompile(`^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// repositoryFrom suggests a valid repository name for s.
func repositoryFrom(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		switch {
		case r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '/' || r == '.' || r == '_':
			b.WriteRune(r)
		default:
			b.WriteRune('-')
		}
	}
	return strings.Trim(b.String(), "-._/")
}

// validRegistry is HOST[:PORT][/PATH] as image references spell it.
var validRegistry = regexp.MustCompile(`^(?:[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?(?:\.[a-zA-Z0-9](?:[a-zA-Z0-9-]*[a-zA-Z0-9])?)*|\[[0-9a-fA-F:.]+\])(?::[0-9]+)?(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$`)

// CheckRegistry says whether s can prefix image references (the CLI checks
// --registry and $REGISTRY with it too).
func CheckRegistry(s string) error {
	if validRegistry.MatchString(s) {
		return nil
	}
	return fmt.Errorf("%q is not a registry: write HOST[:PORT][/PATH] without a scheme, e.g. \"127.0.0.1:5000\" or \"registry.k8s.io/e2e-test-images\"", s)
}

// validDockerHost accepts the URL forms the Docker client dials.
func validDockerHost(h string) bool {
	u, err := url.Parse(h)
	if err != nil {
		return false
	}
	switch u.Scheme {
	case "tcp", "http", "https", "ssh":
		return u.Host != "" && u.Hostname() != ""
	case "unix", "npipe":
		return u.Path != ""
	}
	return false
}

// closest returns the candidate with the smallest edit distance to s, if
// it is close enough to be a plausible typo.
func closest(s string, candidates []string) string {
	best, bestD := "", len(s)/2+2
	for _, c := range candidates {
		if d := editDistance(s, c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

// Closest is exported for the graph's "did you mean" on labels.
func Closest(s string, candidates []string) string { return closest(s, candidates) }

func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
