// Package synth writes synthetic imgraph workspaces of any size, for
// benchmarks and tests: a WORKSPACE.star, Starlark libraries under rules/,
// and images with IMAGE.star, Dockerfile, .dockerignore and context files,
// linked into a DAG by in-tree bases and image_args.
package synth

import (
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
)

// Config sizes the workspace. Zero fields take the defaults noted.
type Config struct {
	Images        int      // number of images (1000)
	FilesPerImage int      // context files per image, .dockerignore'd ones included (50)
	FileSize      int      // mean size of a context file in bytes (1024)
	Depth         int      // longest chain of in-tree bases, counting the root (6)
	FanOut        int      // images built directly on each parent (4)
	Platforms     []string // Linux platforms of every image (the five legacy ones)
	WindowsEvery  int      // every Nth image also has Windows variants (10); <0: none
	ImageArgEvery int      // every Nth image has an image_args entry (7); <0: none
	GoBinaryEvery int      // every Nth image has a go_binary prebuild (20); <0: none
	Seed          int64    // file contents and sizes derive from it (1)
}

func (c *Config) defaults() {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.Images, 1000)
	def(&c.FilesPerImage, 50)
	def(&c.FileSize, 1024)
	def(&c.Depth, 6)
	def(&c.FanOut, 4)
	def(&c.WindowsEvery, 10)
	def(&c.ImageArgEvery, 7)
	def(&c.GoBinaryEvery, 20)
	if c.Seed == 0 {
		c.Seed = 1
	}
	if len(c.Platforms) == 0 {
		c.Platforms = []string{"linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/s390x"}
	}
}

// Label returns the label Generate gives image i ("//g003/img0157").
func Label(i int) string { return "//" + imageDir(i) }

func imageDir(i int) string { return fmt.Sprintf("g%03d/img%04d", i/50, i) }

// Parent returns the index of image i's in-tree base, or -1 when its base
// is external: image i builds on (i-1)/FanOut unless that chain is already
// Depth images long, in which case a new chain starts.
func (c Config) Parent(i int) int {
	c.defaults()
	p, _ := c.place(i)
	return p
}

func (c Config) place(i int) (parent, depth int) {
	if i == 0 {
		return -1, 0
	}
	p := (i - 1) / c.FanOut
	if _, d := c.place(p); d+1 < c.Depth {
		return p, d + 1
	}
	return -1, 0
}

// Generate writes the workspace into dir (created if missing). Existing
// files with the same names are overwritten; nothing else is removed.
func Generate(dir string, cfg Config) error {
	cfg.defaults()
	if cfg.Images < 1 || cfg.FilesPerImage < 3 {
		return fmt.Errorf("synth: need at least 1 image and 3 files per image")
	}
	w := &writer{root: dir, rnd: rand.New(rand.NewSource(cfg.Seed))}
	w.file("WORKSPACE.star", fmt.Sprintf(`load("//rules/platforms.star", "LINUX")

workspace(
    images = "images",
    registry = "registry.example/synth",
    platforms = LINUX,
)
`))
	w.file("rules/platforms.star", fmt.Sprintf("LINUX = %s\n\nWINDOWS = [\"ltsc2022\", \"ltsc2025\"]\n", starList(cfg.Platforms)))
	w.file("rules/synth.star", `load("//rules/platforms.star", "WINDOWS")

def synth_labels(name):
    return {"org.opencontainers.image.title": name, "synth": "true"}

def synth_image(name, windows_base = None, **kwargs):
    """An image with standard labels and, when windows_base is set, Windows variants."""
    if windows_base != None:
        kwargs["windows"] = windows(os_versions = WINDOWS, base = windows_base, dockerfile = "Dockerfile_windows")
    image(labels = synth_labels(name), **kwargs)
`)
	w.file("go.mod", "module example.com/synth\n\ngo 1.22\n")
	for i := 0; i < cfg.Images && w.err == nil; i++ {
		w.image(cfg, i)
	}
	return w.err
}

type writer struct {
	root string
	rnd  *rand.Rand
	err  error
	dirs map[string]bool
	pool []byte
}

func (w *writer) file(rel, content string) {
	w.bytes(rel, []byte(content))
}

func (w *writer) bytes(rel string, b []byte) {
	if w.err != nil {
		return
	}
	p := filepath.Join(w.root, filepath.FromSlash(rel))
	d := filepath.Dir(p)
	if w.dirs == nil {
		w.dirs = map[string]bool{}
	}
	if !w.dirs[d] {
		if err := os.MkdirAll(d, 0o755); err != nil {
			w.err = fmt.Errorf("synth: %w", err)
			return
		}
		w.dirs[d] = true
	}
	if err := os.WriteFile(p, b, 0o644); err != nil {
		w.err = fmt.Errorf("synth: %w", err)
	}
}

const alphabet = "abcdefghijklmnopqrstuvwxyz0123456789 \n"

// content returns mean/2..3*mean/2 bytes of text: a slice of one random
// pool at a random offset, so files differ without a random call per byte.
func (w *writer) content(mean int) []byte {
	if w.pool == nil {
		w.pool = make([]byte, 4<<20)
		for i := range w.pool {
			w.pool[i] = alphabet[w.rnd.Intn(len(alphabet))]
		}
	}
	n := mean/2 + w.rnd.Intn(mean+1)
	b := make([]byte, 0, n)
	for len(b) < n {
		off := w.rnd.Intn(len(w.pool))
		b = append(b, w.pool[off:min(len(w.pool), off+n-len(b))]...)
	}
	return b
}

func (w *writer) image(cfg Config, i int) {
	dir := "images/" + imageDir(i)
	name := fmt.Sprintf("img%04d", i)
	parent := cfg.Parent(i)
	base := `"scratch"`
	switch {
	case parent >= 0:
		base = fmt.Sprintf("%q", Label(parent))
	case i%3 == 1:
		base = `"alpine:3.21"`
	case i%3 == 2:
		base = `"debian:bookworm@sha256:` + strings.Repeat("ab", 32) + `"`
	}
	var args []string
	args = append(args, fmt.Sprintf("version = \"1.%d.0\"", i%10))
	args = append(args, "base = "+base)
	args = append(args, fmt.Sprintf("build_args = {\"SYNTH_INDEX\": \"%d\"}", i))
	windows := cfg.WindowsEvery > 0 && i%cfg.WindowsEvery == 0
	// image_args only on Linux-only images: the target then needs only
	// the (shared) Linux platforms. Targets have lower indices, as parents
	// do, so the graph stays acyclic.
	if cfg.ImageArgEvery > 0 && i > 0 && i%cfg.ImageArgEvery == 0 && !windows {
		args = append(args, fmt.Sprintf("image_args = {\"HELPER\": %q}", Label(w.rnd.Intn(i))))
	}
	files := cfg.FilesPerImage
	if cfg.GoBinaryEvery > 0 && i%cfg.GoBinaryEvery == 0 {
		args = append(args, `prebuild = [go_binary(package = "./cmd", out = "app")]`)
		w.file(dir+"/cmd/main.go", "package main\n\nfunc main() {}\n")
		files--
	}
	var star string
	if windows || i%2 == 0 {
		if windows {
			args = append(args, `windows_base = "mcr.microsoft.com/windows/nanoserver:ltsc2022"`)
		}
		star = fmt.Sprintf("load(\"//rules/synth.star\", \"synth_image\")\n\nsynth_image(\n    name = %q,\n    %s,\n)\n", name, strings.Join(args, ",\n    "))
	} else {
		star = fmt.Sprintf("image(\n    %s,\n)\n", strings.Join(args, ",\n    "))
	}
	w.file(dir+"/IMAGE.star", star)
	w.file(dir+"/Dockerfile", fmt.Sprintf("ARG BASEIMAGE\nFROM $BASEIMAGE\n# %s\nCOPY . /app/\n", name))
	if windows {
		w.file(dir+"/Dockerfile_windows", "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY . C:/app/\n")
	}
	w.file(dir+"/.dockerignore", "testdata\n!testdata/keep.txt\n*.tmp\n")
	files -= 3 // IMAGE.star, Dockerfile, .dockerignore
	// The rest: source files spread over a few directories, plus some that
	// .dockerignore excludes (testdata/, *.tmp) and one exception.
	for f := 0; f < files; f++ {
		var rel string
		switch {
		case f == 0:
			rel = "testdata/keep.txt"
		case f%10 == 1:
			rel = fmt.Sprintf("testdata/case%03d.txt", f)
		case f%10 == 2:
			rel = fmt.Sprintf("src/scratch%03d.tmp", f)
		default:
			rel = fmt.Sprintf("src/d%d/file%03d.txt", f%4, f)
		}
		w.bytes(dir+"/"+rel, w.content(cfg.FileSize))
	}
}

func starList(xs []string) string {
	q := make([]string, len(xs))
	for i, x := range xs {
		q[i] = fmt.Sprintf("%q", x)
	}
	return "[" + strings.Join(q, ", ") + "]"
}
