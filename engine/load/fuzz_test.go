package load_test

import (
	"context"
	"errors"
	"io/fs"
	"testing"
	"testing/fstest"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
)

// FuzzLoad feeds arbitrary bytes to the loader as an IMAGE.star in an
// in-memory workspace that also has a library, a local .star file and a
// second image. Load must never panic, and every error must be a
// declaration error with a position or a wrapped I/O error.
func FuzzLoad(f *testing.F) {
	seeds := []string{
		"image(version = \"1\")\n",
		"load(\"//rules/m.star\", \"mk\")\nmk(version = \"2\")\n",
		"load(\":local.star\", \"X\")\nimage(version = X, base = \"//b\", image_args = {\"H\": \"//b\"})\n",
		"image(version = \"1\", base = {\"linux\": \"//b\", \"windows\": \"nano\"}, windows = windows(os_versions = [\"ltsc2022\"], image_args = {\"H\": image_ref(\"//b\", platform = \"linux/amd64/{os_version}\")}))\n",
		"image(version = \"1\", platforms = [\"linux/arm/v7\", \"linux/amd64/ltsc2022\"], build_args = {\"F\": \" \".join(glob([\"**\"], exclude = [\"*.star\"]))})\n",
		"image(version = \"1\", prebuild = [go_binary(package = \".\", out = \"x\"), deb_file(package = \"p\", path = \"bin/p\", out = \"p\")])\n",
		"image(version = \"1\", context = \"../..\", dockerfile = \"../../x\")\n",
		"image(\n    version = \"1\"\n    base = \"x\",\n)\n",
		"def f():\n    n = 0\n    for i in range(100000000):\n        n += i\n    return n\nf()\n",
		"load(\"//rules/cycle.star\", \"C\")\n",
		"load(\"//nope.star\", \"C\")\n",
		"image(version = 1)\nimage(version = \"2\")\n",
		"x = struct(a = 1)\nimage(version = str(x.a), labels = {\"k\": \"v\"})\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	base := fstest.MapFS{
		"WORKSPACE.star":        {Data: []byte("workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n")},
		"rules/m.star":          {Data: []byte("def mk(**kwargs):\n    image(**kwargs)\n")},
		"rules/cycle.star":      {Data: []byte("load(\":cycle2.star\", \"D\")\nC = 1\n")},
		"rules/cycle2.star":     {Data: []byte("load(\":cycle.star\", \"C\")\nD = 1\n")},
		"images/a/local.star":   {Data: []byte("X = \"3\"\n")},
		"images/a/Dockerfile":   {Data: []byte("FROM scratch\n")},
		"images/a/main.go":      {Data: []byte("package main\n")},
		"images/b/IMAGE.star":   {Data: []byte("image(version = \"1\", platforms = [\"linux/amd64\", \"linux/arm64\", \"linux/amd64/ltsc2022\"], windows = windows(os_versions = [\"ltsc2022\"], base = \"nano\"))\n")},
		"images/b/Dockerfile":   {Data: []byte("FROM scratch\n")},
		"images/a/sub/data.txt": {Data: []byte("data\n")},
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		fsys := fstest.MapFS{}
		for k, v := range base {
			fsys[k] = v
		}
		fsys["images/a/IMAGE.star"] = &fstest.MapFile{Data: src}
		ws, err := load.Load(context.Background(), load.Options{Root: "/ws", FS: fsys})
		if err == nil {
			if _, ok := ws.Image("//a"); !ok {
				t.Fatalf("Load succeeded without //a")
			}
			// The graph is the loader's first consumer: it must not panic
			// on anything the loader accepts either.
			if _, err := graph.Build(ws); err != nil {
				checkDeclErr(t, err)
			}
			return
		}
		checkDeclErr(t, err)
	})
}

// checkDeclErr accepts declaration errors with full positions and wrapped
// I/O errors only.
func checkDeclErr(t *testing.T, err error) {
	t.Helper()
	{
		var el load.ErrorList
		var e *load.Error
		switch {
		case errors.As(err, &el):
			if len(el) == 0 {
				t.Fatalf("empty ErrorList")
			}
			for _, e := range el {
				checkPos(t, e)
			}
		case errors.As(err, &e):
			checkPos(t, e)
		default:
			var pe *fs.PathError
			if !errors.As(err, &pe) {
				t.Fatalf("error %T is neither a declaration error nor a wrapped I/O error: %v", err, err)
			}
		}
	}
}

func checkPos(t *testing.T, e *load.Error) {
	t.Helper()
	if e.Pos.File == "" || e.Pos.Line <= 0 || e.Pos.Col <= 0 {
		t.Fatalf("error without a full position: %q (pos %+v)", e.Error(), e.Pos)
	}
	if e.Msg == "" {
		t.Fatalf("error at %s without a message", e.Pos)
	}
}
