package load_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

func image(t *testing.T, ws *load.Workspace, l string) *load.Image {
	t.Helper()
	img, ok := ws.Image(label.Label(l))
	if !ok {
		t.Fatalf("no image %s; have %v", l, ws.Labels())
	}
	return img
}

func node(t *testing.T, img *load.Image, p string) load.Node {
	t.Helper()
	pl, err := platform.Parse(p)
	if err != nil {
		t.Fatal(err)
	}
	n, err := img.Node(pl)
	if err != nil {
		t.Fatalf("%s.Node(%s): %v", img.Label, p, err)
	}
	return n
}

func platformStrings(ps []platform.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.String())
	}
	return out
}

func TestLoads(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"rules/defs.star":     "load(\":versions.star\", \"V\")\nVERSION = V\n",
		"rules/versions.star": "V = \"2.5\"\n",
		"images/a/local.star": "DESC = \"local\"\n",
		"images/a/IMAGE.star": "load(\"//rules/defs.star\", \"VERSION\")\nload(\":local.star\", \"DESC\")\nimage(version = VERSION, labels = {\"d\": DESC})\n",
	})
	a := image(t, ws, "//a")
	if a.Version != "2.5" || a.Labels["d"] != "local" {
		t.Errorf("version %q labels %v; want 2.5 and d=local", a.Version, a.Labels)
	}
	wantLoads := []string{"images/a/local.star", "rules/defs.star", "rules/versions.star"}
	if !reflect.DeepEqual(a.Loads, wantLoads) {
		t.Errorf("Loads = %v, want %v", a.Loads, wantLoads)
	}
	wantStar := append([]string{"WORKSPACE.star", "images/a/IMAGE.star"}, wantLoads...)
	if !reflect.DeepEqual(ws.StarFiles, wantStar) {
		t.Errorf("StarFiles = %v, want %v", ws.StarFiles, wantStar)
	}
}

func TestMacroCallsImage(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"rules/m.star":        "def go_image(version, **kwargs):\n    image(version = version, labels = {\"by\": \"macro\"}, **kwargs)\n",
		"images/a/IMAGE.star": "load(\"//rules/m.star\", \"go_image\")\n\ngo_image(\n    version = \"3\",\n    repository = \"e2e/a\",\n)\n",
	})
	a := image(t, ws, "//a")
	if a.Version != "3" || a.Repository != "e2e/a" || a.Labels["by"] != "macro" {
		t.Errorf("got version %q repository %q labels %v", a.Version, a.Repository, a.Labels)
	}
	// Positions point at the user's file: the macro call and its arguments.
	if got := a.Pos.String(); got != "images/a/IMAGE.star:3:9" {
		t.Errorf("Pos = %s, want images/a/IMAGE.star:3:9", got)
	}
	if got := a.PosOf("version").String(); got != "images/a/IMAGE.star:4:5" {
		t.Errorf("PosOf(version) = %s, want images/a/IMAGE.star:4:5", got)
	}
}

func TestArgPositions(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"images/a/IMAGE.star": "# a\nimage(\n    version = \"1\",\n      base = \"alpine\",\n)\n",
	})
	a := image(t, ws, "//a")
	for arg, want := range map[string]string{
		"version":    "images/a/IMAGE.star:3:5",
		"base":       "images/a/IMAGE.star:4:7",
		"repository": "images/a/IMAGE.star:2:6", // not given: the call
	} {
		if got := a.PosOf(arg).String(); got != want {
			t.Errorf("PosOf(%q) = %s, want %s", arg, got, want)
		}
	}
}

func TestGlob(t *testing.T) {
	files := map[string]string{
		"images/a/IMAGE.star":       "image(version = \"1\", build_args = {\n    \"ALL\": \" \".join(glob([\"**/*.txt\"])),\n    \"TOP\": \" \".join(glob([\"*.txt\"])),\n    \"EX\": \" \".join(glob([\"**\"], exclude = [\"**/*.txt\", \"IMAGE.star\"])),\n    \"NONE\": \" \".join(glob([\"nothing/*\"])),\n})\n",
		"images/a/z.txt":            "z",
		"images/a/b.txt":            "b",
		"images/a/sub/deep/c.txt":   "c",
		"images/a/sub/d.txt":        "d",
		"images/a/sub/e.go":         "e",
		"images/other/not-mine.txt": "x",
	}
	ws := mustLoad(t, files)
	got := image(t, ws, "//a").BuildArgs
	want := map[string]string{
		"ALL":  "b.txt sub/d.txt sub/deep/c.txt z.txt",
		"TOP":  "b.txt z.txt",
		"EX":   "Dockerfile sub/e.go",
		"NONE": "",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("glob results:\n got %v\nwant %v", got, want)
	}
}

func TestBaseSelectors(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"images/a/IMAGE.star": `image(
    version = "1",
    platforms = ["linux/amd64", "linux/arm64", "linux/arm/v7"],
    base = {
        "linux": "debian:12",
        "linux/arm64": "arm64v8/debian:12",
        "linux/arm": "scratch",
        "windows": "mcr.microsoft.com/windows/servercore:ltsc2022",
        "windows/amd64/ltsc2025": "mcr.microsoft.com/windows/nanoserver:ltsc2025",
    },
    windows = windows(os_versions = ["ltsc2022", "ltsc2025"]),
)
`,
	})
	a := image(t, ws, "//a")
	for p, want := range map[string]string{
		"linux/amd64":            "debian:12",
		"linux/arm64":            "arm64v8/debian:12",
		"linux/arm/v7":           "scratch",
		"windows/amd64/ltsc2022": "mcr.microsoft.com/windows/servercore:ltsc2022",
		"windows/amd64/ltsc2025": "mcr.microsoft.com/windows/nanoserver:ltsc2025",
	} {
		if got := node(t, a, p).Base.String(); got != want {
			t.Errorf("base for %s = %s, want %s", p, got, want)
		}
	}
}

func TestWindowsOverrides(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"images/a/Dockerfile_windows": "FROM x\n",
		"images/b/IMAGE.star":         "image(version = \"1\", platforms = [\"linux/amd64\"], windows = windows(os_versions = [\"ltsc2022\"]))\n",
		"images/b/Dockerfile":         "FROM scratch\n",
		"images/a/IMAGE.star": `image(
    version = "1",
    platforms = ["linux/amd64"],
    base = "//b",
    build_args = {"A": "linux", "B": "linux"},
    image_args = {"H": "//b"},
    windows = windows(
        os_versions = ["ltsc2022"],
        base = "mcr.microsoft.com/windows/nanoserver:ltsc2022",
        dockerfile = "Dockerfile_windows",
        build_args = {"B": "windows", "C": "windows"},
        image_args = {"W": image_ref("//b", platform = "linux/amd64")},
    ),
)
`,
	})
	a := image(t, ws, "//a")
	lin := node(t, a, "linux/amd64")
	win := node(t, a, "windows/amd64/ltsc2022")
	if lin.Base.String() != "//b" || lin.Dockerfile != "images/a/Dockerfile" {
		t.Errorf("linux: base %s dockerfile %s", lin.Base, lin.Dockerfile)
	}
	if win.Base.String() != "mcr.microsoft.com/windows/nanoserver:ltsc2022" || win.Dockerfile != "images/a/Dockerfile_windows" {
		t.Errorf("windows: base %s dockerfile %s; want the windows() values", win.Base, win.Dockerfile)
	}
	if want := map[string]string{"A": "linux", "B": "linux"}; !reflect.DeepEqual(lin.BuildArgs, want) {
		t.Errorf("linux build_args = %v, want %v", lin.BuildArgs, want)
	}
	if want := map[string]string{"A": "linux", "B": "windows", "C": "windows"}; !reflect.DeepEqual(win.BuildArgs, want) {
		t.Errorf("windows build_args = %v, want %v (merged, windows wins)", win.BuildArgs, want)
	}
	if len(lin.ImageArgs) != 1 || lin.ImageArgs["H"].Label != "//b" {
		t.Errorf("linux image_args = %v, want only H", lin.ImageArgs)
	}
	if len(win.ImageArgs) != 2 || win.ImageArgs["H"].Label != "//b" || win.ImageArgs["W"].PlatformTemplate != "linux/amd64" {
		t.Errorf("windows image_args = %v, want H and W merged", win.ImageArgs)
	}
	// The Linux declaration is not changed by building the Windows node.
	if a.BuildArgs["B"] != "linux" {
		t.Errorf("Node() modified the image's build_args: %v", a.BuildArgs)
	}
}

func TestImageRefTemplate(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"images/helper/IMAGE.star": "image(version = \"1\", platforms = [\"linux/amd64/ltsc2022\", \"linux/amd64/ltsc2025\"])\n",
		"images/helper/Dockerfile": "FROM scratch\n",
		"images/a/IMAGE.star": `image(
    version = "1",
    platforms = ["linux/amd64"],
    windows = windows(
        os_versions = ["ltsc2022", "ltsc2025"],
        base = "mcr.microsoft.com/windows/nanoserver:ltsc2022",
        image_args = {"HELPER": image_ref("//helper", platform = "linux/amd64/{os_version}")},
    ),
)
`,
	})
	a := image(t, ws, "//a")
	if got := platformStrings(a.AllPlatforms()); !reflect.DeepEqual(got, []string{"linux/amd64", "windows/amd64/ltsc2022", "windows/amd64/ltsc2025"}) {
		t.Errorf("AllPlatforms = %v", got)
	}
	for _, v := range []string{"ltsc2022", "ltsc2025"} {
		n := node(t, a, "windows/amd64/"+v)
		ia := n.ImageArgs["HELPER"]
		if ia.Label != "//helper" || ia.PlatformTemplate != "linux/amd64/"+v {
			t.Errorf("%s: HELPER = %+v, want //helper for linux/amd64/%s", v, ia, v)
		}
		if ia.Pos.String() != "images/a/IMAGE.star:7:42" {
			t.Errorf("HELPER position = %s, want images/a/IMAGE.star:7:42", ia.Pos)
		}
	}
	helper := image(t, ws, "//helper")
	if got := platformStrings(helper.Platforms); !reflect.DeepEqual(got, []string{"linux/amd64/ltsc2022", "linux/amd64/ltsc2025"}) {
		t.Errorf("helper platforms = %v", got)
	}
	if s := helper.Platforms[0].TagSuffix(); s != "linux-amd64-ltsc2022" {
		t.Errorf("helper tag suffix = %s", s)
	}
}

func TestWorkspaceDefaults(t *testing.T) {
	t.Run("platforms from WORKSPACE.star", func(t *testing.T) {
		ws := mustLoad(t, map[string]string{
			"WORKSPACE.star": "load(\"//rules/p.star\", \"P\")\nworkspace(platforms = P, registry = \"reg.example/e2e\")\n",
			"rules/p.star":   "P = [\"linux/s390x\", \"linux/arm/v7\"]\n",
		})
		if got := platformStrings(image(t, ws, "//a").Platforms); !reflect.DeepEqual(got, []string{"linux/s390x", "linux/arm/v7"}) {
			t.Errorf("platforms = %v", got)
		}
		if ws.Registry != "reg.example/e2e" {
			t.Errorf("registry = %q", ws.Registry)
		}
	})
	t.Run("empty WORKSPACE.star", func(t *testing.T) {
		ws := mustLoad(t, map[string]string{"WORKSPACE.star": "# empty\n"})
		if got := platformStrings(image(t, ws, "//a").Platforms); !reflect.DeepEqual(got, load.DefaultPlatforms) {
			t.Errorf("platforms = %v, want %v", got, load.DefaultPlatforms)
		}
		if ws.ImagesDir != "images" || ws.Registry != "" {
			t.Errorf("images dir %q registry %q", ws.ImagesDir, ws.Registry)
		}
	})
	t.Run("images root and registry override", func(t *testing.T) {
		fsys := mapFS(map[string]string{
			"WORKSPACE.star":          "workspace(images = \"imgs\", registry = \"from-file\")\n",
			"imgs/x/y/IMAGE.star":     "image(version = \"1\")\n",
			"imgs/x/y/Dockerfile":     "FROM scratch\n",
			"imgs/.hidden/IMAGE.star": "this is not starlark(\n",
		})
		ws, err := load.Load(context.Background(), load.Options{Root: "/ws", FS: fsys, Registry: "flag"})
		if err != nil {
			t.Fatal(err)
		}
		if got := ws.Labels(); len(got) != 1 || got[0] != "//x/y" {
			t.Errorf("labels = %v, want [//x/y] (images/ is not the images root; hidden dirs skipped)", got)
		}
		if ws.Registry != "flag" {
			t.Errorf("registry = %q, want the override", ws.Registry)
		}
	})
}

func TestRepositoryDefault(t *testing.T) {
	ws := mustLoad(t, map[string]string{
		"images/volume/nfs/IMAGE.star": "image(version = \"1\")\n",
		"images/volume/nfs/Dockerfile": "FROM scratch\n",
		"images/b/IMAGE.star":          "image(version = \"1\", repository = \"custom/name\")\n",
		"images/b/Dockerfile":          "FROM scratch\n",
	})
	for l, want := range map[string]string{"//volume/nfs": "volume/nfs", "//a": "a", "//b": "custom/name"} {
		img := image(t, ws, l)
		if img.Repository != want {
			t.Errorf("%s repository = %q, want %q", l, img.Repository, want)
		}
		if n := node(t, img, "linux/amd64"); n.Repository != want || !strings.HasPrefix(n.Dockerfile, "images/"+strings.TrimPrefix(l, "//")) {
			t.Errorf("%s node: repository %q dockerfile %q", l, n.Repository, n.Dockerfile)
		}
	}
}
