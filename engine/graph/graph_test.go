package graph_test

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
)

// workspace builds an in-memory workspace: WORKSPACE.star with two Linux
// platforms, and for every images/X/IMAGE.star given, a Dockerfile beside it.
func workspace(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{
		"WORKSPACE.star": {Data: []byte("workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n")},
	}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
		if strings.HasSuffix(k, "/IMAGE.star") {
			df := strings.TrimSuffix(k, "IMAGE.star") + "Dockerfile"
			if _, ok := files[df]; !ok {
				fsys[df] = &fstest.MapFile{Data: []byte("FROM scratch\n")}
			}
		}
	}
	return fsys
}

func build(t *testing.T, files map[string]string) (*graph.Graph, error) {
	t.Helper()
	ws, err := load.Load(context.Background(), load.Options{Root: "/ws", FS: workspace(files)})
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return graph.Build(ws)
}

func mustBuild(t *testing.T, files map[string]string) *graph.Graph {
	t.Helper()
	g, err := build(t, files)
	if err != nil {
		t.Fatalf("Build: %v", err)
	}
	return g
}

func ids(t *testing.T, ss ...string) []graph.NodeID {
	t.Helper()
	var out []graph.NodeID
	for _, s := range ss {
		id, err := graph.ParseNodeID(s)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, id)
	}
	return out
}

func strs(ids []graph.NodeID) []string {
	out := []string{}
	for _, id := range ids {
		out = append(out, id.String())
	}
	return out
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name    string
		files   map[string]string
		wantPos string
		want    []string
	}{
		{
			name: "unknown base label suggests the closest",
			files: map[string]string{
				"images/agnhost/IMAGE.star": "image(version = \"1\")\n",
				"images/a/IMAGE.star":       "image(\n    version = \"1\",\n    base = \"//agnhots\",\n)\n",
			},
			wantPos: "images/a/IMAGE.star:3:5",
			want:    []string{"base: unknown image //agnhots", "no images/agnhots/IMAGE.star", "did you mean //agnhost?"},
		},
		{
			name: "unknown image_args label",
			files: map[string]string{
				"images/kitten/IMAGE.star": "image(version = \"1\")\n",
				"images/a/IMAGE.star":      "image(\n    version = \"1\",\n    image_args = {\"K\": \"//kiten\"},\n)\n",
			},
			wantPos: "images/a/IMAGE.star:3:5",
			want:    []string{`image_args "K": unknown image //kiten`, "did you mean //kitten?"},
		},
		{
			name: "the suggestion is never the image itself",
			files: map[string]string{
				"images/a/IMAGE.star":  "image(version = \"1\", base = \"//b\")\n",
				"images/bb/IMAGE.star": "image(version = \"1\")\n",
			},
			wantPos: "images/a/IMAGE.star:1:22",
			want:    []string{"unknown image //b", "did you mean //bb?"},
		},
		{
			name: "unknown image_ref label points at image_ref",
			files: map[string]string{
				"images/a/IMAGE.star": "image(\n    version = \"1\",\n    image_args = {\"K\": image_ref(\"//nothing-like-it\")},\n)\n",
			},
			wantPos: "images/a/IMAGE.star:3:33",
			want:    []string{`image_args "K": unknown image //nothing-like-it`},
		},
		{
			name: "image builds on itself",
			files: map[string]string{
				"images/a/IMAGE.star": "image(version = \"1\", base = \"//a\")\n",
			},
			wantPos: "images/a/IMAGE.star:1:22",
			want:    []string{"refers to the image itself"},
		},
		{
			name: "base cycle",
			files: map[string]string{
				"images/a/IMAGE.star": "image(version = \"1\", base = \"//b\")\n",
				"images/b/IMAGE.star": "image(version = \"1\",\n    base = \"//c\")\n",
				"images/c/IMAGE.star": "image(version = \"1\",\n\n    base = \"//a\")\n",
			},
			wantPos: "images/a/IMAGE.star:1:22",
			want: []string{"dependency cycle:",
				"//a@linux/amd64 -> //b@linux/amd64 (base at images/a/IMAGE.star:1:22)",
				"//b@linux/amd64 -> //c@linux/amd64 (base at images/b/IMAGE.star:2:5)",
				"//c@linux/amd64 -> //a@linux/amd64 (base at images/c/IMAGE.star:3:5)",
				"remove one of these edges"},
		},
		{
			name: "cycle through image_args",
			files: map[string]string{
				"images/a/IMAGE.star": "image(version = \"1\", base = \"//b\")\n",
				"images/b/IMAGE.star": "image(version = \"1\", image_args = {\"A\": \"//a\"})\n",
			},
			wantPos: "images/a/IMAGE.star:1:22",
			want:    []string{"dependency cycle:", "(base at images/a/IMAGE.star:1:22)", `//b@linux/amd64 -> //a@linux/amd64 (image_args "A" at images/b/IMAGE.star:1:22)`},
		},
		{
			name: "child platform the parent does not produce names both files",
			files: map[string]string{
				"images/parent/IMAGE.star": "image(version = \"1\", platforms = [\"linux/amd64\"])\n",
				"images/child/IMAGE.star":  "image(\n    version = \"1\",\n    platforms = [\"linux/amd64\", \"linux/arm64\"],\n    base = \"//parent\",\n)\n",
			},
			wantPos: "images/child/IMAGE.star:4:5",
			want:    []string{"//child builds linux/arm64 on //parent", "images/parent/IMAGE.star", "does not produce linux/arm64", "it has: linux/amd64", "add the platform to the parent or drop it"},
		},
		{
			name: "windows node whose helper lacks the release",
			files: map[string]string{
				"images/helper/IMAGE.star": "image(version = \"1\", platforms = [\"linux/amd64/ltsc2022\"])\n",
				"images/a/IMAGE.star":      "image(\n    version = \"1\",\n    platforms = [\"linux/amd64\"],\n    windows = windows(\n        os_versions = [\"ltsc2022\", \"ltsc2025\"],\n        base = \"nano\",\n        image_args = {\"H\": image_ref(\"//helper\", platform = \"linux/amd64/{os_version}\")},\n    ),\n)\n",
			},
			wantPos: "images/a/IMAGE.star:7:37",
			want:    []string{`image_args "H"`, "does not produce linux/amd64/ltsc2025", "images/helper/IMAGE.star", "it has: linux/amd64/ltsc2022"},
		},
		{
			name: "same repository and version",
			files: map[string]string{
				"images/httpd/IMAGE.star":     "image(version = \"2.4\")\n",
				"images/httpd-new/IMAGE.star": "image(\n    version = \"2.4\",\n    repository = \"httpd\",\n)\n",
			},
			wantPos: "images/httpd-new/IMAGE.star:2:5",
			want:    []string{"//httpd-new and //httpd (images/httpd/IMAGE.star) both publish httpd:2.4"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := build(t, tt.files)
			if err == nil {
				t.Fatalf("no error; want one at %s", tt.wantPos)
			}
			var list load.ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error %T is not a non-empty load.ErrorList: %v", err, err)
			}
			if got := list[0].Pos.String(); got != tt.wantPos {
				t.Errorf("position = %s, want %s (error: %v)", got, tt.wantPos, err)
			}
			for _, w := range tt.want {
				if !strings.Contains(list[0].Msg, w) {
					t.Errorf("message %q does not mention %q", list[0].Msg, w)
				}
			}
		})
	}
}

// A bad base hits every platform; it is reported once.
func TestBuildErrorsDeduplicated(t *testing.T) {
	_, err := build(t, map[string]string{"images/a/IMAGE.star": "image(version = \"1\", base = \"//zzz\")\n"})
	var list load.ErrorList
	if !errors.As(err, &list) || len(list) != 1 {
		t.Fatalf("want exactly one error, got %v", err)
	}
}

// fixture: //base (2 Linux + ltsc2022), //mid on //base, //top on //mid
// with an image_arg to //tool, //tool alone, and //win's Windows variant
// using //helper through an {os_version} image_ref.
var fixture = map[string]string{
	"images/base/IMAGE.star":   "image(version = \"1\", windows = windows(os_versions = [\"ltsc2022\"], base = \"nano\"))\n",
	"images/mid/IMAGE.star":    "image(version = \"1\", base = \"//base\", windows = windows(os_versions = [\"ltsc2022\"]))\n",
	"images/top/IMAGE.star":    "image(version = \"1\", base = {\"linux\": \"//mid\"}, image_args = {\"TOOL\": \"//tool\"})\n",
	"images/tool/IMAGE.star":   "image(version = \"1\")\n",
	"images/helper/IMAGE.star": "image(version = \"1\", platforms = [\"linux/amd64/ltsc2022\"])\n",
	"images/win/IMAGE.star":    "image(version = \"1\", platforms = [\"linux/amd64\"], windows = windows(os_versions = [\"ltsc2022\"], base = \"nano\", image_args = {\"H\": image_ref(\"//helper\", platform = \"linux/amd64/{os_version}\")}))\n",
}

func TestEdgesAndOrder(t *testing.T) {
	g := mustBuild(t, fixture)
	pos := map[graph.NodeID]int{}
	for i, n := range g.Nodes {
		pos[n.ID] = i
	}
	if len(g.Nodes) != 13 {
		t.Errorf("%d nodes, want 13: %v", len(g.Nodes), g.Nodes)
	}
	for _, n := range g.Nodes {
		for _, e := range n.Deps {
			if pos[e.To] >= pos[n.ID] {
				t.Errorf("%s comes before its dependency %s", n.ID, e.To)
			}
		}
	}
	n, ok := g.Node(ids(t, "//top@linux/arm64")[0])
	if !ok {
		t.Fatal("no //top@linux/arm64")
	}
	want := []graph.Edge{
		{To: ids(t, "//mid@linux/arm64")[0], Kind: graph.EdgeBase, Pos: load.Pos{File: "images/top/IMAGE.star", Line: 1, Col: 22}},
		{To: ids(t, "//tool@linux/arm64")[0], Kind: graph.EdgeImageArg, Arg: "TOOL", Pos: load.Pos{File: "images/top/IMAGE.star", Line: 1, Col: 49}},
	}
	if !reflect.DeepEqual(n.Deps, want) {
		t.Errorf("//top@linux/arm64 deps:\n got %+v\nwant %+v", n.Deps, want)
	}
	// The Windows node reaches the helper built for its own release.
	w, _ := g.Node(ids(t, "//win@windows/amd64/ltsc2022")[0])
	if len(w.Deps) != 1 || w.Deps[0].To.String() != "//helper@linux/amd64/ltsc2022" || w.Deps[0].Kind != graph.EdgeImageArg || w.Deps[0].Arg != "H" {
		t.Errorf("//win windows deps = %+v, want H -> //helper@linux/amd64/ltsc2022", w.Deps)
	}
	// //mid's Windows variant inherits the Linux base label: an edge to
	// //base's Windows node, not to a Linux one.
	m, _ := g.Node(ids(t, "//mid@windows/amd64/ltsc2022")[0])
	if len(m.Deps) != 1 || m.Deps[0].To.String() != "//base@windows/amd64/ltsc2022" {
		t.Errorf("//mid windows deps = %+v", m.Deps)
	}
}

func TestQueries(t *testing.T) {
	g := mustBuild(t, fixture)
	sel := func(targets ...string) []graph.NodeID {
		t.Helper()
		out, err := g.Select(targets)
		if err != nil {
			t.Fatalf("Select(%v): %v", targets, err)
		}
		return out
	}
	tests := []struct {
		name string
		got  []graph.NodeID
		want []string
	}{
		{"select one node", sel("//top@linux/amd64"), []string{"//top@linux/amd64"}},
		{"select bare name", sel("tool"), []string{"//tool@linux/amd64", "//tool@linux/arm64"}},
		{"deps", g.Deps(sel("//top@linux/amd64")), []string{"//base@linux/amd64", "//mid@linux/amd64", "//tool@linux/amd64"}},
		{"closure", g.Closure(sel("//mid@windows/amd64/ltsc2022")), []string{"//base@windows/amd64/ltsc2022", "//mid@windows/amd64/ltsc2022"}},
		{"reverse deps", g.ReverseDeps(sel("//base@linux/arm64")), []string{"//mid@linux/arm64", "//top@linux/arm64"}},
		{"reverse deps of helper", g.ReverseDeps(sel("//helper")), []string{"//win@windows/amd64/ltsc2022"}},
		{"path", g.Path(sel("//top@linux/amd64"), sel("//base")), []string{"//top@linux/amd64", "//mid@linux/amd64", "//base@linux/amd64"}},
		{"no path", g.Path(sel("//tool"), sel("//base")), []string{}},
	}
	for _, tt := range tests {
		if got := strs(tt.got); !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s = %v, want %v", tt.name, got, tt.want)
		}
	}
	if all := sel(); len(all) != len(g.Nodes) {
		t.Errorf("default targets select %d nodes, want all %d", len(all), len(g.Nodes))
	}
}

func TestSelectErrors(t *testing.T) {
	g := mustBuild(t, fixture)
	for target, want := range map[string]string{
		"//tol":             "no image matches //tol; did you mean //tool?",
		"//zz/...":          "no image matches //zz/...",
		"//top@linux/s390x": "unknown node //top@linux/s390x: //top has linux/amd64, linux/arm64",
		"//tol@linux/amd64": "unknown node //tol@linux/amd64: no image matches //tol; did you mean //tool?",
		"//top@linux/sparc": "unknown platform",
		"//../x":            "invalid label",
	} {
		_, err := g.Select([]string{target})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Select(%q) error = %v, want it to mention %q", target, err, want)
		}
	}
	// A workspace without images says so and what an image is.
	empty := mustBuild(t, nil)
	if _, err := empty.Select(nil); err == nil || !strings.Contains(err.Error(), "the workspace has no images (no IMAGE.star below images/)") {
		t.Errorf("Select on an empty workspace: %v", err)
	}
}

// Two directories may publish one repository (httpd and httpd-new) as long
// as their versions differ.
func TestSharedRepositoryDifferentVersions(t *testing.T) {
	g := mustBuild(t, map[string]string{
		"images/httpd/IMAGE.star":     "image(version = \"2.4\")\n",
		"images/httpd-new/IMAGE.star": "image(version = \"2.5\", repository = \"httpd\")\n",
	})
	for _, l := range []string{"//httpd", "//httpd-new"} {
		img, ok := g.Workspace.Image(label.Label(l))
		if !ok || img.Repository != "httpd" {
			t.Errorf("%s: repository %v", l, img)
		}
	}
}
