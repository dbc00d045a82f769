package load

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"runtime"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"golang.org/x/sync/errgroup"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/platform"
)

const (
	// WorkspaceFile marks the workspace root.
	WorkspaceFile = "WORKSPACE.star"
	// ImageFile declares one image.
	ImageFile = "IMAGE.star"
	// maxSteps bounds a file's evaluation so runaway Starlark fails cleanly.
	maxSteps = 5_000_000
)

var fileOptions = &syntax.FileOptions{Set: true, While: false, TopLevelControl: true, GlobalReassign: false, Recursion: false}

// DefaultPlatforms is the platform set when neither WORKSPACE.star nor
// IMAGE.star names one: the five Linux platforms of the legacy scripts.
var DefaultPlatforms = []string{"linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/s390x"}

// Options tune Load.
type Options struct {
	// Root is the workspace root as shown to users (for absolute paths);
	// all reads go through FS.
	Root string
	// FS is the workspace tree, rooted at the workspace root. Nil means
	// os.DirFS(Root).
	FS fs.FS
	// Registry overrides the workspace registry (flag or $REGISTRY).
	Registry string
}

// module is one evaluated .star library, shared by all files that load it.
type module struct {
	once    sync.Once
	globals starlark.StringDict
	err     error
	loads   []string // transitive loads, including itself
}

type loader struct {
	opts    Options
	fsys    fs.FS
	mu      sync.Mutex
	parsed  map[string]*parsedFile
	modules map[string]*module
}

type parsedFile struct {
	file *syntax.File
	prog *starlark.Program
	// loads: module path (root-relative) for each load statement.
	loads    []string
	loadPos  []Pos
	parseErr error
}

// Load evaluates the workspace. Declaration errors are returned as ErrorList
// (all of them, sorted); I/O problems as plain wrapped errors.
func Load(ctx context.Context, opts Options) (*Workspace, error) {
	l := &loader{opts: opts, fsys: opts.FS, parsed: map[string]*parsedFile{}, modules: map[string]*module{}}
	if l.fsys == nil {
		l.fsys = dirFS(opts.Root)
	}
	ws := &Workspace{Root: opts.Root, File: WorkspaceFile, ImagesDir: "images"}
	if err := l.evalWorkspace(ws); err != nil {
		return nil, err
	}
	if opts.Registry != "" {
		ws.Registry = opts.Registry
	}
	files, err := findImageFiles(l.fsys, ws.ImagesDir)
	if err != nil {
		return nil, err
	}
	images := make([]*Image, len(files))
	errs := make([]error, len(files))
	g, ctx := errgroup.WithContext(ctx)
	g.SetLimit(runtime.GOMAXPROCS(0) * 2)
	for i, f := range files {
		g.Go(func() error {
			if err := ctx.Err(); err != nil {
				return err
			}
			images[i], errs[i] = l.evalImage(ws, f)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	var list ErrorList
	for _, err := range errs {
		if err == nil {
			continue
		}
		var el ErrorList
		var e *Error
		switch {
		case errors.As(err, &el):
			list = append(list, el...)
		case errors.As(err, &e):
			list = append(list, e)
		default:
			return nil, err
		}
	}
	if len(list) > 0 {
		sortErrors(list)
		return nil, dedupErrors(list)
	}
	ws.Images = images
	ws.index()
	seen := map[string]bool{WorkspaceFile: true}
	for _, img := range images {
		seen[img.File] = true
		for _, f := range img.Loads {
			seen[f] = true
		}
	}
	for f := range seen {
		ws.StarFiles = append(ws.StarFiles, f)
	}
	sort.Strings(ws.StarFiles)
	return ws, nil
}

// dedupErrors drops repeats of one error (a broken library loaded by
// several images is reported once); list must be sorted.
func dedupErrors(list ErrorList) ErrorList {
	out := list[:0]
	for _, e := range list {
		if len(out) > 0 && e.Error() == out[len(out)-1].Error() {
			continue
		}
		out = append(out, e)
	}
	return out
}

func sortErrors(list ErrorList) {
	sort.SliceStable(list, func(i, j int) bool {
		a, b := list[i].Pos, list[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// findImageFiles lists every IMAGE.star below the images root, sorted.
func findImageFiles(fsys fs.FS, imagesDir string) ([]string, error) {
	var out []string
	err := fs.WalkDir(fsys, imagesDir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == imagesDir && errors.Is(err, fs.ErrNotExist) {
				return fs.SkipAll
			}
			return err
		}
		if d.IsDir() && p != imagesDir && strings.HasPrefix(d.Name(), ".") {
			return fs.SkipDir
		}
		if !d.IsDir() && d.Name() == ImageFile {
			out = append(out, p)
		}
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("list images under %s: %w", imagesDir, err)
	}
	sort.Strings(out)
	return out, nil
}

// parse reads and parses one file once; results are cached.
func (l *loader) parse(file string) *parsedFile {
	l.mu.Lock()
	pf, ok := l.parsed[file]
	l.mu.Unlock()
	if ok {
		return pf
	}
	pf = &parsedFile{}
	src, err := fs.ReadFile(l.fsys, file)
	if err != nil {
		pf.parseErr = fmt.Errorf("read %s: %w", file, err)
	} else {
		f, err := fileOptions.Parse(file, src, syntax.RetainComments)
		if err != nil {
			pf.parseErr = convertErr(err)
		} else {
			pf.file = f
			for _, st := range f.Stmts {
				ld, ok := st.(*syntax.LoadStmt)
				if !ok {
					continue
				}
				pos := toPos(ld.Load)
				mod, err := resolveModule(file, ld.ModuleName())
				if err != nil {
					pf.parseErr = Errorf(pos, "%v", err)
					break
				}
				pf.loads = append(pf.loads, mod)
				pf.loadPos = append(pf.loadPos, pos)
			}
		}
	}
	l.mu.Lock()
	if prev, ok := l.parsed[file]; ok {
		pf = prev
	} else {
		l.parsed[file] = pf
	}
	l.mu.Unlock()
	return pf
}

// resolveModule maps a load() name to a root-relative path.
func resolveModule(from, name string) (string, error) {
	var p string
	switch {
	case strings.HasPrefix(name, "//"):
		p = strings.TrimPrefix(name, "//")
	case strings.HasPrefix(name, ":"):
		p = path.Join(path.Dir(from), strings.TrimPrefix(name, ":"))
	default:
		return "", fmt.Errorf("load(%q): module names start with // (workspace root) or : (this file's directory), e.g. load(\"//rules/platforms.star\", \"LINUX\")", name)
	}
	p = path.Clean(p)
	if p == ".." || strings.HasPrefix(p, "../") || strings.HasPrefix(p, "/") {
		return "", fmt.Errorf("load(%q): path escapes the workspace", name)
	}
	if !strings.HasSuffix(p, ".star") {
		return "", fmt.Errorf("load(%q): only .star files can be loaded", name)
	}
	return p, nil
}

// checkLoadCycles walks the static load graph from file; load statements
// are static, so cycles are found before anything runs.
func (l *loader) checkLoadCycles(file string) error {
	var stack []string
	var posStack []Pos
	onStack := map[string]bool{}
	done := map[string]bool{}
	var visit func(f string, at Pos) error
	visit = func(f string, at Pos) error {
		if onStack[f] {
			var b strings.Builder
			i := 0
			for stack[i] != f {
				i++
			}
			fmt.Fprintf(&b, "load cycle:")
			for j := i; j < len(stack); j++ {
				// posStack[j+1] is where stack[j] loads stack[j+1]; the
				// closing edge (last file back to f) is at.
				edgePos := at
				if j+1 < len(posStack) {
					edgePos = posStack[j+1]
				}
				fmt.Fprintf(&b, "\n    %s loads %s", edgePos, moduleLabel(nextOf(stack, j, f)))
			}
			return Errorf(at, "%s\n  break the cycle by moving the shared definitions into a file both can load", b.String())
		}
		if done[f] {
			return nil
		}
		pf := l.parse(f)
		if pf.parseErr != nil {
			if errors.Is(pf.parseErr, fs.ErrNotExist) && len(stack) > 0 {
				return Errorf(at, "load: cannot find %s (no such file in the workspace; check the path, which is relative to the workspace root for //, or to this file for :)", moduleLabel(f))
			}
			return pf.parseErr
		}
		onStack[f] = true
		stack = append(stack, f)
		posStack = append(posStack, at)
		for i, m := range pf.loads {
			if err := visit(m, pf.loadPos[i]); err != nil {
				return err
			}
		}
		stack = stack[:len(stack)-1]
		posStack = posStack[:len(posStack)-1]
		onStack[f] = false
		done[f] = true
		return nil
	}
	return visit(file, Pos{File: file})
}

func nextOf(stack []string, j int, f string) string {
	if j+1 < len(stack) {
		return stack[j+1]
	}
	return f
}

func moduleLabel(p string) string { return "//" + p }

// loadModule evaluates a library once and returns its frozen globals.
func (l *loader) loadModule(file string) *module {
	l.mu.Lock()
	m, ok := l.modules[file]
	if !ok {
		m = &module{}
		l.modules[file] = m
	}
	l.mu.Unlock()
	m.once.Do(func() {
		pf := l.parse(file)
		if pf.parseErr != nil {
			m.err = pf.parseErr
			return
		}
		th := l.newThread(file, nil)
		m.globals, m.err = l.exec(th, file, pf, builtins)
		m.loads = []string{file}
		for _, dep := range pf.loads {
			m.loads = append(m.loads, l.loadModule(dep).loads...)
		}
	})
	return m
}

func (l *loader) newThread(file string, c *imageCollector) *starlark.Thread {
	th := &starlark.Thread{
		Name: file,
		Load: func(th *starlark.Thread, name string) (starlark.StringDict, error) {
			from := th.Local("file").(string)
			p, err := resolveModule(from, name)
			if err != nil {
				return nil, err
			}
			m := l.loadModule(p)
			if m.err != nil {
				return nil, m.err
			}
			return m.globals, nil
		},
		Print: func(*starlark.Thread, string) {},
	}
	th.SetLocal("file", file)
	th.SetLocal("loader", l)
	if c != nil {
		th.SetLocal("collector", c)
	}
	th.SetMaxExecutionSteps(maxSteps)
	return th
}

// exec compiles and runs a parsed file; globals come back frozen.
func (l *loader) exec(th *starlark.Thread, file string, pf *parsedFile, predeclared starlark.StringDict) (starlark.StringDict, error) {
	prog := pf.prog
	if prog == nil {
		var err error
		prog, err = starlark.FileProgram(pf.file, predeclared.Has)
		if err != nil {
			return nil, convertErr(err)
		}
	}
	globals, err := prog.Init(th, predeclared)
	if err != nil {
		return nil, convertErr(err)
	}
	globals.Freeze()
	return globals, nil
}

// convertErr turns Starlark errors into *Error/ErrorList with positions.
func convertErr(err error) error {
	var se syntax.Error
	if errors.As(err, &se) {
		return Errorf(toPos(se.Pos), "syntax error: %s", se.Msg)
	}
	var rl resolve.ErrorList
	if errors.As(err, &rl) {
		var out ErrorList
		for _, e := range rl {
			msg := e.Msg
			// The resolver cannot spell-check predeclared names (imgae).
			if name, ok := strings.CutPrefix(msg, "undefined: "); ok && !strings.Contains(name, " ") {
				if s := closest(name, predeclaredNames); s != "" {
					msg += fmt.Sprintf(" (did you mean %s?)", s)
				}
			}
			out = append(out, Errorf(toPos(e.Pos), "%s", msg))
		}
		return out
	}
	var ee *starlark.EvalError
	if errors.As(err, &ee) {
		// A builtin that already produced a positioned error keeps it.
		var de *Error
		if errors.As(ee.Unwrap(), &de) {
			return de
		}
		var dl ErrorList
		if errors.As(ee.Unwrap(), &dl) {
			return dl
		}
		msg := ee.Msg
		if strings.Contains(msg, "too many steps") {
			msg = fmt.Sprintf("evaluation exceeded %d steps (runaway loop or recursion?); simplify the computation", maxSteps)
		}
		pos := Pos{}
		if len(ee.CallStack) > 0 {
			pos = toPos(ee.CallStack[len(ee.CallStack)-1].Pos)
			// The innermost frame of a builtin has no position: use its caller.
			for i := len(ee.CallStack) - 1; i >= 0 && pos.Line == 0; i-- {
				pos = toPos(ee.CallStack[i].Pos)
			}
		}
		// An error inside a library function: also say where the
		// evaluated file called it, so the user finds their own line.
		if len(ee.CallStack) > 1 {
			if top := toPos(ee.CallStack[0].Pos); top.Line > 0 && top.File != pos.File {
				msg += fmt.Sprintf(" (called from %s)", top)
			}
		}
		return Errorf(pos, "%s", msg)
	}
	return err
}

// predeclaredNames are the builtins and Starlark's universal names, for
// "did you mean". Set in init: builtins refers (through its functions) to
// convertErr, which reads this.
var predeclaredNames []string

func init() {
	predeclaredNames = append(builtins.Keys(), starlark.Universe.Keys()...)
	sort.Strings(predeclaredNames)
}

func toPos(p syntax.Position) Pos {
	return Pos{File: p.Filename(), Line: int(p.Line), Col: int(p.Col)}
}

// evalWorkspace runs WORKSPACE.star with the workspace builtins.
func (l *loader) evalWorkspace(ws *Workspace) error {
	if _, err := fs.Stat(l.fsys, WorkspaceFile); err != nil {
		return fmt.Errorf("%s not found in %s: %w", WorkspaceFile, l.opts.Root, err)
	}
	if err := l.checkLoadCycles(WorkspaceFile); err != nil {
		return err
	}
	pf := l.parse(WorkspaceFile)
	c := &workspaceCollector{ws: ws}
	th := l.newThread(WorkspaceFile, nil)
	th.SetLocal("workspace", c)
	if _, err := l.exec(th, WorkspaceFile, pf, builtins); err != nil {
		return err
	}
	if len(ws.Platforms) == 0 {
		for _, s := range DefaultPlatforms {
			p, _ := platform.Parse(s)
			ws.Platforms = append(ws.Platforms, p)
		}
	}
	return nil
}

// evalImage runs one IMAGE.star and returns its declaration.
func (l *loader) evalImage(ws *Workspace, file string) (*Image, error) {
	if err := l.checkLoadCycles(file); err != nil {
		return nil, err
	}
	pf := l.parse(file)
	dir := path.Dir(file)
	rel := strings.TrimPrefix(strings.TrimPrefix(dir, ws.ImagesDir), "/")
	if _, err := label.Parse(rel); err != nil {
		// The label could not be named as a target.
		return nil, Errorf(Pos{File: file, Line: 1, Col: 1}, "image directory %s: %v; rename the directory", dir, err)
	}
	c := &imageCollector{ws: ws, file: file, dir: dir, lbl: label.FromDir(rel), ast: pf.file, l: l}
	th := l.newThread(file, c)
	if _, err := l.exec(th, file, pf, builtins); err != nil {
		return nil, err
	}
	if c.img == nil {
		return nil, Errorf(Pos{File: file, Line: 1, Col: 1}, "no image(...) call: every IMAGE.star declares exactly one image, e.g. image(version = \"1.0\")")
	}
	for _, dep := range pf.loads {
		c.img.Loads = append(c.img.Loads, l.loadModule(dep).loads...)
	}
	c.img.Loads = dedupSorted(c.img.Loads)
	return c.img, nil
}

func dedupSorted(xs []string) []string {
	sort.Strings(xs)
	out := xs[:0]
	for i, x := range xs {
		if i == 0 || x != xs[i-1] {
			out = append(out, x)
		}
	}
	return out
}
