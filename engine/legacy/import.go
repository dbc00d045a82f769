package legacy

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"

	"github.com/imgraph/imgraph/internal/atomicfile"
)

// Options tune Import.
type Options struct {
	// Source is the legacy test/images directory.
	Source string
	// Out is the workspace root to write. With InPlace it must be Source or
	// one of its ancestors (the images root becomes Source).
	Out string
	// InPlace writes IMAGE.star (and rewritten Dockerfiles) into Source
	// instead of copying each image under Out/images.
	InPlace bool
	// Force lets existing IMAGE.star / WORKSPACE.star files be replaced.
	Force bool
}

// ErrNoImages is returned when Source holds no directory with a VERSION.
var ErrNoImages = errors.New("no image directories (no VERSION file) found")

// Report is what Import found and did. Its JSON form is documented in
// docs/import.md and is stable.
type Report struct {
	Source   string        `json:"source"`
	Out      string        `json:"out"`
	InPlace  bool          `json:"in_place"`
	Images   []ImageReport `json:"images"`
	Edges    []Edge        `json:"edges"`
	Lagging  []Lag         `json:"lagging"`
	Rewrites []Rewrite     `json:"rewrites"`
	Review   []Review      `json:"review"`
	Errors   []Problem     `json:"errors"`
	Skipped  []string      `json:"skipped"`
}

// ImageReport is one legacy image directory.
type ImageReport struct {
	Label      string   `json:"label"`
	Dir        string   `json:"dir"`
	Repository string   `json:"repository"`
	Version    string   `json:"version"`
	Platforms  []string `json:"platforms"`
	Status     string   `json:"status"` // "imported" or "failed"
	ImageFile  string   `json:"image_file,omitempty"`
}

// Edge is an in-tree dependency found in a legacy file.
type Edge struct {
	From    string `json:"from"`
	To      string `json:"to"`
	Kind    string `json:"kind"` // "base" (BASEIMAGE) or "image_arg" (Dockerfile FROM)
	Arg     string `json:"arg,omitempty"`
	File    string `json:"file"`
	Line    int    `json:"line"`
	Ref     string `json:"ref"`
	Pinned  string `json:"pinned_version"`
	Current string `json:"current_version"`
}

// Lag is a reference whose pinned version is not the parent's VERSION.
type Lag struct {
	Child   string `json:"child"`
	Parent  string `json:"parent"`
	Pinned  string `json:"pinned_version"`
	Current string `json:"current_version"`
	File    string `json:"file"`
	Line    int    `json:"line"`
}

// Problem is why an image could not be imported.
type Problem struct {
	Image   string `json:"image,omitempty"`
	File    string `json:"file"`
	Line    int    `json:"line,omitempty"`
	Message string `json:"message"`
}

func (p Problem) String() string {
	loc := p.File
	if p.Line > 0 {
		loc = fmt.Sprintf("%s:%d", p.File, p.Line)
	}
	return loc + ": " + p.Message
}

// Failed reports whether any image could not be imported.
func (r *Report) Failed() bool { return len(r.Errors) > 0 }

type imageArgDecl struct {
	Label    string
	Template string
}

// need is a (parent, platform) an imported image builds on.
type need struct {
	parent *legacyImage
	plat   platform.Platform
	file   string
	line   int
	what   string
}

// plan is one image, resolved.
type plan struct {
	img           *legacyImage
	linux         []platform.Platform
	defaultLinux  bool
	windows       []string
	linuxBase     map[string]string
	winBase       map[string]string
	dockerfile    string
	winDockerfile string
	buildArgs     map[string]string
	winBuildArgs  map[string]string
	imageArgs     map[string]imageArgDecl
	winImageArgs  map[string]imageArgDecl
	prebuild      []goBinary
	files         map[string][]byte // rewritten Dockerfiles
	needs         []need
	edges         []Edge
	lags          []Lag
	rewrites      []Rewrite
	review        []Review
	err           *problem
}

func (p *plan) platforms() []platform.Platform {
	out := append([]platform.Platform(nil), p.linux...)
	for _, v := range p.windows {
		out = append(out, platform.Platform{OS: "windows", Arch: "amd64", OSVersion: v})
	}
	return out
}

func (p *plan) produces(pl platform.Platform) bool {
	for _, q := range p.platforms() {
		if q == pl {
			return true
		}
	}
	return false
}

// Import converts the legacy tree at opts.Source. Images that cannot be
// converted are listed in Report.Errors and not written; the others are.
// The returned error is for I/O failures and ErrNoImages.
func Import(ctx context.Context, opts Options) (*Report, error) {
	src, err := filepath.Abs(opts.Source)
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(opts.Out)
	if err != nil {
		return nil, err
	}
	fsys := os.DirFS(src)
	dirs, skipped, err := scan(fsys)
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", src, err)
	}
	if len(dirs) == 0 {
		return nil, fmt.Errorf("%s: %w", opts.Source, ErrNoImages)
	}
	rep := &Report{Source: opts.Source, Out: opts.Out, InPlace: opts.InPlace, Skipped: skipped,
		Edges: []Edge{}, Lagging: []Lag{}, Rewrites: []Rewrite{}, Review: []Review{}, Errors: []Problem{}}
	if rep.Skipped == nil {
		rep.Skipped = []string{}
	}
	var images []*legacyImage
	plans := map[*legacyImage]*plan{}
	for _, d := range dirs {
		img, err := readImage(fsys, d)
		var pr *problem
		switch {
		case errors.As(err, &pr):
			plans[img] = &plan{img: img, err: pr}
		case err != nil:
			return nil, err
		}
		images = append(images, img)
	}
	byRepo := map[string][]*legacyImage{}
	for _, img := range images {
		if plans[img] == nil {
			byRepo[img.Repository] = append(byRepo[img.Repository], img)
		}
	}
	for _, img := range images {
		if plans[img] == nil {
			plans[img] = resolve(img, byRepo)
		}
	}
	checkNeeds(images, plans)

	imagesDir := "images"
	if opts.InPlace {
		rel, err := filepath.Rel(out, src)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			return nil, fmt.Errorf("--in-place: --out %s must be %s or a directory above it", opts.Out, opts.Source)
		}
		imagesDir = filepath.ToSlash(rel)
	}
	for _, img := range images {
		p := plans[img]
		ir := ImageReport{Label: string(img.Label), Dir: img.Dir, Repository: img.Repository, Version: img.Version, Platforms: []string{}}
		for _, pl := range p.platforms() {
			ir.Platforms = append(ir.Platforms, pl.String())
		}
		if p.err == nil {
			ir.ImageFile = path.Join(imagesDir, img.Dir, load.ImageFile)
			if err := writeImage(src, out, imagesDir, p, dirs, opts); err != nil {
				var pr *problem
				if !errors.As(err, &pr) {
					return nil, err
				}
				p.err = pr
				ir.ImageFile = ""
			}
		}
		if p.err != nil {
			ir.Status = "failed"
			rep.Errors = append(rep.Errors, Problem{Image: string(img.Label), File: p.err.File, Line: p.err.Line, Message: p.err.Msg})
		} else {
			ir.Status = "imported"
			rep.Edges = append(rep.Edges, p.edges...)
			rep.Lagging = append(rep.Lagging, p.lags...)
			rep.Rewrites = append(rep.Rewrites, p.rewrites...)
		}
		rep.Review = append(rep.Review, p.review...)
		rep.Images = append(rep.Images, ir)
	}
	if err := writeWorkspace(out, imagesDir, opts); err != nil {
		var pr *problem
		if !errors.As(err, &pr) {
			return nil, err
		}
		rep.Errors = append(rep.Errors, Problem{File: pr.File, Message: pr.Msg})
		return rep, nil
	}
	// The output must load and form a graph; anything else is an importer bug
	// or an edge case it does not know, and must not pass silently.
	if err := verify(ctx, out); err != nil {
		rep.Errors = append(rep.Errors, Problem{File: load.WorkspaceFile, Message: "the imported workspace does not load: " + err.Error()})
	}
	return rep, nil
}

func verify(ctx context.Context, root string) error {
	ws, err := load.Load(ctx, load.Options{Root: root})
	if err != nil {
		return err
	}
	_, err = graph.Build(ws)
	return err
}

// resolve converts one image's legacy files into a plan.
func resolve(img *legacyImage, byRepo map[string][]*legacyImage) *plan {
	p := &plan{img: img, linuxBase: map[string]string{}, winBase: map[string]string{}, files: map[string][]byte{}}
	if err := p.resolveBases(byRepo); err != nil {
		p.err = err
		return p
	}
	if err := p.resolveDockerfiles(byRepo); err != nil {
		p.err = err
		return p
	}
	if mk, ok := img.Files[makefile]; ok {
		bins, err := parseMakefile(mk)
		if err != nil {
			p.review = append(p.review, Review{Image: string(img.Label), File: img.file(makefile),
				Msg: "Makefile not converted to prebuild (" + err.Error() + "); add prebuild = [go_binary(...)] by hand"})
		} else {
			p.prebuild = bins
		}
	}
	return p
}

// lookup finds the in-tree image published as repo, preferring the one
// whose VERSION matches the pinned version when two share a repository.
func lookup(byRepo map[string][]*legacyImage, repo, pinned string) *legacyImage {
	cands := byRepo[repo]
	if len(cands) == 0 {
		return nil
	}
	for _, c := range cands {
		if c.Version == pinned {
			return c
		}
	}
	for _, c := range cands {
		if !c.Aliased {
			return c
		}
	}
	return cands[0]
}

func (p *plan) addEdge(parent *legacyImage, kind, arg, file string, line int, ref, pinned string) {
	p.edges = append(p.edges, Edge{From: string(p.img.Label), To: string(parent.Label), Kind: kind, Arg: arg,
		File: file, Line: line, Ref: ref, Pinned: pinned, Current: parent.Version})
	if pinned != "" && pinned != parent.Version {
		p.lags = append(p.lags, Lag{Child: string(p.img.Label), Parent: string(parent.Label), Pinned: pinned, Current: parent.Version, File: file, Line: line})
	}
}

func (p *plan) resolveBases(byRepo map[string][]*legacyImage) *problem {
	img := p.img
	if !img.HasBaseImage {
		for _, s := range defaultPlatforms {
			pl, _ := platform.Parse(s)
			p.linux = append(p.linux, pl)
			p.linuxBase[s] = ""
		}
		p.defaultLinux = true
		return nil
	}
	file := img.file(baseImageFile)
	for _, e := range img.Entries {
		pl := e.Platform
		if pl.IsWindows() && (pl.Arch != "amd64" || pl.OSVersion == "") {
			return problemf(file, e.Line, "%s: windows(...) declares windows/amd64/<os_version> platforms only", e.Key)
		}
		var base string
		switch {
		case strings.HasPrefix(e.Value, "REGISTRY/"):
			ref := parseRegistryRef(strings.TrimPrefix(e.Value, "REGISTRY/"))
			parent := lookup(byRepo, ref.Repo, ref.Version)
			if parent == nil {
				return problemf(file, e.Line, "%s: %s is not an image of this tree, and IMAGE.star has no REGISTRY substitution; write the full reference in BASEIMAGE (or add the image) and import again", e.Key, e.Value)
			}
			if parent == img {
				return problemf(file, e.Line, "%s: %s is this image itself", e.Key, e.Value)
			}
			if ref.Suffix != "" && ref.Suffix != pl.TagSuffix() {
				return problemf(file, e.Line, "%s builds on %s (the %s image of %s); an in-tree base must be the parent's image for the same platform (%s)", e.Key, e.Value, ref.Suffix, parent.Label, pl.TagSuffix())
			}
			if ref.Digest != "" {
				p.review = append(p.review, Review{Image: string(img.Label), File: file, Line: e.Line, Lines: []string{e.Key + "=" + e.Value},
					Msg: "the digest pin is dropped: an in-tree base is always the parent as built from this tree"})
			}
			base = string(parent.Label)
			p.addEdge(parent, "base", "", file, e.Line, e.Value, ref.Version)
			p.needs = append(p.needs, need{parent: parent, plat: pl, file: file, line: e.Line, what: "base " + e.Value})
		case strings.Contains(e.Value, "REGISTRY"):
			return problemf(file, e.Line, "%s: %s uses REGISTRY other than as the registry prefix; IMAGE.star has no REGISTRY substitution", e.Key, e.Value)
		default:
			base = collapseHub(pl, e.Value)
		}
		if pl.IsWindows() {
			p.windows = append(p.windows, pl.OSVersion)
			p.winBase[pl.OSVersion] = base
		} else {
			p.linux = append(p.linux, pl)
			p.linuxBase[pl.String()] = base
		}
	}
	if len(p.linux) == len(defaultPlatforms) {
		p.defaultLinux = true
		for i, pl := range p.linux {
			if pl.String() != defaultPlatforms[i] {
				p.defaultLinux = false
			}
		}
	}
	return nil
}

var argNameRE = regexp.MustCompile(`[^A-Za-z0-9]+`)

// argName is the build arg that carries an in-tree image's reference:
// //windows-servercore-cache → WINDOWS_SERVERCORE_CACHE_IMAGE.
func argName(l label.Label) string {
	return strings.ToUpper(strings.Trim(argNameRE.ReplaceAllString(l.Path(), "_"), "_")) + "_IMAGE"
}

func (p *plan) resolveDockerfiles(byRepo map[string][]*legacyImage) *problem {
	img := p.img
	hasLinux, hasWin := len(p.linux) > 0, len(p.windows) > 0
	_, hasDF := img.Files[dockerfile]
	_, hasWDF := img.Files[dockerfileWindows]
	var dfPlats, wdfPlats []platform.Platform // platforms each file builds
	dfPlats = append(dfPlats, p.linux...)
	for _, pl := range p.platforms()[len(p.linux):] {
		if hasWDF {
			wdfPlats = append(wdfPlats, pl)
		} else {
			dfPlats = append(dfPlats, pl)
		}
	}
	if len(dfPlats) > 0 && !hasDF {
		var ps []string
		for _, pl := range dfPlats {
			ps = append(ps, pl.String())
		}
		return problemf(img.Dir, 0, "no Dockerfile, so nothing builds %s (the legacy build of this image failed too)", strings.Join(ps, ", "))
	}
	if hasWDF && !hasWin {
		p.review = append(p.review, Review{Image: string(img.Label), File: img.file(dockerfileWindows),
			Msg: "Dockerfile_windows is not used: BASEIMAGE lists no windows/amd64/<os_version> platform (copied as is)"})
	}
	switch {
	case hasLinux:
		p.dockerfile = dockerfile
		if hasWin && hasWDF {
			p.winDockerfile = dockerfileWindows
		}
	case hasWDF:
		p.dockerfile = dockerfileWindows
	default:
		p.dockerfile = dockerfile
	}
	for _, f := range []struct {
		name  string
		plats []platform.Platform
	}{{dockerfile, dfPlats}, {dockerfileWindows, wdfPlats}} {
		srcBytes, ok := img.Files[f.name]
		if !ok || len(f.plats) == 0 {
			continue
		}
		file := img.file(f.name)
		args := map[string]imageArgDecl{}
		froms := map[int]string{}
		for _, fr := range findRegistryFroms(srcBytes) {
			parent := lookup(byRepo, fr.Ref.Repo, fr.Ref.Version)
			if parent == nil {
				p.review = append(p.review, Review{Image: string(img.Label), File: file, Line: fr.Line, Lines: []string{fr.Text},
					Msg: "pulls $REGISTRY/" + fr.Ref.Repo + ", which is not an image of this tree; left as is (REGISTRY is still passed as a build arg)"})
				continue
			}
			if parent == img {
				return problemf(file, fr.Line, "FROM pulls this image itself (%s)", fr.Raw)
			}
			tmpl := ""
			if fr.Ref.Suffix != "" {
				t, ok := platformTemplate(fr.Ref.Suffix)
				if !ok {
					p.review = append(p.review, Review{Image: string(img.Label), File: file, Line: fr.Line, Lines: []string{fr.Text},
						Msg: "in-tree image " + string(parent.Label) + " with a tag suffix that is not a platform (variables other than $OS_VERSION?); left as is, so the dependency is not declared"})
					continue
				}
				tmpl = t
			}
			name := argName(parent.Label)
			if prev, ok := args[name]; ok && (prev.Label != string(parent.Label) || prev.Template != tmpl) {
				return problemf(file, fr.Line, "two FROM lines pull %s for different platforms; one build arg cannot carry both", parent.Label)
			}
			args[name] = imageArgDecl{Label: string(parent.Label), Template: tmpl}
			froms[fr.Line] = name
			p.addEdge(parent, "image_arg", name, file, fr.Line, "$REGISTRY/"+fr.Raw, fr.Ref.Version)
			// Top-level image_args apply to every platform, Windows included.
			plats := f.plats
			if f.name == dockerfile && hasLinux {
				plats = p.platforms()
				if hasWDF && hasWin {
					p.review = append(p.review, Review{Image: string(img.Label), File: file, Line: fr.Line, Lines: []string{fr.Text},
						Msg: "image_args from Dockerfile also apply to the Windows variants (which use Dockerfile_windows): they get an extra dependency on " + string(parent.Label)})
				}
			}
			for _, pl := range plats {
				tp := pl
				if tmpl != "" {
					s := strings.NewReplacer("{os_version}", pl.OSVersion).Replace(tmpl)
					var err error
					if tp, err = platform.Parse(s); err != nil {
						return problemf(file, fr.Line, "%s for %s: platform %q: %v", fr.Raw, pl, s, err)
					}
				}
				p.needs = append(p.needs, need{parent: parent, plat: tp, file: file, line: fr.Line, what: "FROM $REGISTRY/" + fr.Raw + " (for " + pl.String() + ")"})
			}
		}
		res := rewriteDockerfile(srcBytes, dfRewrite{File: file, Legacy: f.name == dockerfile, Froms: froms})
		for i := range res.Review {
			res.Review[i].Image = string(img.Label)
		}
		p.review = append(p.review, res.Review...)
		p.rewrites = append(p.rewrites, res.Rewrites...)
		if res.Changed {
			p.files[f.name] = res.Out
		}
		winUses := f.name == dockerfileWindows || (hasWin && !hasWDF)
		// Windows-only images carry their Windows settings at the top level.
		if f.name == dockerfile || !hasLinux {
			if p.imageArgs == nil && len(args) > 0 {
				p.imageArgs = map[string]imageArgDecl{}
			}
			for k, v := range args {
				p.imageArgs[k] = v
			}
		} else {
			if p.winImageArgs == nil && len(args) > 0 {
				p.winImageArgs = map[string]imageArgDecl{}
			}
			for k, v := range args {
				p.winImageArgs[k] = v
			}
		}
		if res.TargetArch && winUses {
			// The Windows builder may not set TARGETARCH; the legacy value was amd64.
			if hasLinux {
				p.winBuildArgs = map[string]string{"TARGETARCH": "amd64"}
			} else {
				p.buildArgs = map[string]string{"TARGETARCH": "amd64"}
			}
		}
	}
	return nil
}

// checkNeeds fails images whose in-tree parents lack a platform they build
// on or could not be imported, repeating until nothing changes.
func checkNeeds(images []*legacyImage, plans map[*legacyImage]*plan) {
	for changed := true; changed; {
		changed = false
		for _, img := range images {
			p := plans[img]
			if p.err != nil {
				continue
			}
			for _, n := range p.needs {
				pp := plans[n.parent]
				if pp.err != nil {
					p.err = problemf(n.file, n.line, "%s: builds on %s, which could not be imported (see its error)", n.what, n.parent.Label)
				} else if !pp.produces(n.plat) {
					var have []string
					for _, q := range pp.platforms() {
						have = append(have, q.String())
					}
					p.err = problemf(n.file, n.line, "%s: needs %s of %s, but %s builds only %s; add the platform to the parent or drop it from this image",
						n.what, n.plat, n.parent.Label, n.parent.file(baseImageFile), strings.Join(have, ", "))
				}
				if p.err != nil {
					changed = true
					break
				}
			}
		}
	}
}

// writeImage writes one imported image: its files (copy mode), rewritten
// Dockerfiles and IMAGE.star. In place, every file is written atomically
// and an existing IMAGE.star is kept unless Force.
func writeImage(src, out, imagesDir string, p *plan, allDirs []string, opts Options) error {
	img := p.img
	star := imageStar(p)
	dst := filepath.Join(out, filepath.FromSlash(imagesDir), filepath.FromSlash(img.Dir))
	if opts.InPlace {
		starPath := filepath.Join(dst, load.ImageFile)
		if _, err := os.Lstat(starPath); err == nil && !opts.Force {
			return problemf(path.Join(img.Dir, load.ImageFile), 0, "already exists; pass --force to replace it")
		}
		names := make([]string, 0, len(p.files))
		for name := range p.files {
			names = append(names, name)
		}
		sort.Strings(names)
		for _, name := range names {
			if err := atomicfile.WriteFile(filepath.Join(dst, name), p.files[name]); err != nil {
				return err
			}
		}
		return atomicfile.WriteFile(starPath, star)
	}
	if err := copyTree(filepath.Join(src, filepath.FromSlash(img.Dir)), dst, nested(img.Dir, allDirs)); err != nil {
		return fmt.Errorf("copy %s: %w", img.Dir, err)
	}
	for name, b := range p.files {
		if err := atomicfile.WriteFile(filepath.Join(dst, name), b); err != nil {
			return err
		}
	}
	return atomicfile.WriteFile(filepath.Join(dst, load.ImageFile), star)
}

func writeWorkspace(out, imagesDir string, opts Options) error {
	p := filepath.Join(out, load.WorkspaceFile)
	if _, err := os.Lstat(p); err == nil && !opts.Force {
		return problemf(load.WorkspaceFile, 0, "%s already exists; pass --force to replace it", p)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return err
	}
	return atomicfile.WriteFile(p, workspaceStar(imagesDir))
}

// nested lists the image directories below dir (relative to dir): their
// files belong to those images, not to dir's build context.
func nested(dir string, all []string) map[string]bool {
	out := map[string]bool{}
	for _, d := range all {
		if rest, ok := strings.CutPrefix(d, dir+"/"); ok {
			out[rest] = true
		}
	}
	return out
}

// copyTree copies files, modes and symlinks from src to dst, skipping the
// subdirectories in skip.
func copyTree(src, dst string, skip map[string]bool) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, p)
		if err != nil {
			return err
		}
		if d.IsDir() && skip[filepath.ToSlash(rel)] {
			return fs.SkipDir
		}
		target := filepath.Join(dst, rel)
		info, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return os.MkdirAll(target, info.Mode().Perm()|0o700)
		case info.Mode()&fs.ModeSymlink != 0:
			link, err := os.Readlink(p)
			if err != nil {
				return err
			}
			_ = os.Remove(target)
			return os.Symlink(link, target)
		case info.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(target, b, info.Mode().Perm())
		}
		return nil // sockets, devices: not build inputs
	})
}
