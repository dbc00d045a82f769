// Package images_test checks that the example workspace loads into the
// graph it is meant to demonstrate, and that every Linux node can be built
// without a public registry.
package images_test

import (
	"bufio"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

var (
	linuxPlatforms = []string{"linux/amd64", "linux/arm", "linux/arm64", "linux/ppc64le", "linux/s390x"}
	windowsOS      = []string{"ltsc2022", "ltsc2025"}
)

func loadGraph(t *testing.T) *graph.Graph {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	ws, err := load.Load(context.Background(), load.Options{Root: root})
	if err != nil {
		t.Fatalf("load workspace: %v", err)
	}
	g, err := graph.Build(ws)
	if err != nil {
		t.Fatalf("build graph: %v", err)
	}
	return g
}

func id(t *testing.T, s string) graph.NodeID {
	t.Helper()
	n, err := graph.ParseNodeID(s)
	if err != nil {
		t.Fatalf("ParseNodeID(%q): %v", s, err)
	}
	return n
}

func node(t *testing.T, g *graph.Graph, s string) *graph.Node {
	t.Helper()
	n, ok := g.Node(id(t, s))
	if !ok {
		t.Fatalf("no node %s", s)
	}
	return n
}

// hasEdge reports whether from has an edge of kind (and arg) to to.
func hasEdge(t *testing.T, g *graph.Graph, from, to string, kind graph.EdgeKind, arg string) bool {
	t.Helper()
	for _, e := range node(t, g, from).Deps {
		if e.To == id(t, to) && e.Kind == kind && e.Arg == arg {
			return true
		}
	}
	return false
}

func TestWorkspaceSettings(t *testing.T) {
	ws := loadGraph(t).Workspace
	if ws.Registry != "" {
		t.Errorf("registry = %q; WORKSPACE.star leaves it to --registry/$REGISTRY", ws.Registry)
	}
	var got []string
	for _, p := range ws.Platforms {
		got = append(got, p.String())
	}
	if !slices.Equal(got, linuxPlatforms) {
		t.Errorf("workspace platforms = %v, want %v", got, linuxPlatforms)
	}
	want := []label.Label{"//agnhost", "//busybox", "//httpd", "//httpd-new", "//kitten", "//nautilus", "//test-webserver-assets", "//volume/nfs", "//windows-servercore-cache"}
	if !slices.Equal(ws.Labels(), want) {
		t.Errorf("labels = %v, want %v", ws.Labels(), want)
	}
}

func TestEdges(t *testing.T) {
	g := loadGraph(t)
	type edge struct {
		from, to string
		kind     graph.EdgeKind
		arg      string
	}
	var want []edge
	for _, p := range linuxPlatforms {
		want = append(want,
			edge{"//kitten@" + p, "//agnhost@" + p, graph.EdgeBase, ""},
			edge{"//nautilus@" + p, "//agnhost@" + p, graph.EdgeBase, ""},
			edge{"//nautilus@" + p, "//test-webserver-assets@" + p, graph.EdgeImageArg, "ASSETS"},
			edge{"//agnhost@" + p, "//busybox@" + p, graph.EdgeBase, ""},
			edge{"//httpd@" + p, "//busybox@" + p, graph.EdgeBase, ""},
			edge{"//httpd-new@" + p, "//busybox@" + p, graph.EdgeBase, ""},
			edge{"//volume/nfs@" + p, "//busybox@" + p, graph.EdgeBase, ""},
		)
	}
	for _, v := range windowsOS {
		w := "windows/amd64/" + v
		want = append(want,
			edge{"//kitten@" + w, "//agnhost@" + w, graph.EdgeBase, ""},
			edge{"//agnhost@" + w, "//busybox@" + w, graph.EdgeBase, ""},
			// The Windows node reaches the helper built for its own release.
			edge{"//busybox@" + w, "//windows-servercore-cache@linux/amd64/" + v, graph.EdgeImageArg, "HELPER"},
		)
	}
	for _, e := range want {
		if !hasEdge(t, g, e.from, e.to, e.kind, e.arg) {
			t.Errorf("missing edge %s -> %s (%s %s)", e.from, e.to, e.kind, e.arg)
		}
	}
	// Roots have no in-tree dependencies at all.
	for _, root := range []string{"//busybox@linux/arm64", "//test-webserver-assets@linux/s390x", "//windows-servercore-cache@linux/amd64/ltsc2022"} {
		if deps := node(t, g, root).Deps; len(deps) != 0 {
			t.Errorf("%s has deps %v, want none", root, deps)
		}
	}
}

func TestPlatformsPerImage(t *testing.T) {
	g := loadGraph(t)
	windows := func(vs ...string) []string {
		var out []string
		for _, v := range vs {
			out = append(out, "windows/amd64/"+v)
		}
		return out
	}
	tests := map[label.Label][]string{
		"//busybox":                  append(slices.Clone(linuxPlatforms), windows(windowsOS...)...),
		"//agnhost":                  append(slices.Clone(linuxPlatforms), windows(windowsOS...)...),
		"//kitten":                   append(slices.Clone(linuxPlatforms), windows(windowsOS...)...),
		"//nautilus":                 linuxPlatforms,
		"//windows-servercore-cache": {"linux/amd64/ltsc2022", "linux/amd64/ltsc2025"},
	}
	for lbl, want := range tests {
		img, ok := g.Workspace.Image(lbl)
		if !ok {
			t.Fatalf("no image %s", lbl)
		}
		var got []string
		for _, p := range img.AllPlatforms() {
			got = append(got, p.String())
		}
		if !slices.Equal(got, want) {
			t.Errorf("%s platforms = %v, want %v", lbl, got, want)
		}
	}
}

func TestRepositories(t *testing.T) {
	ws := loadGraph(t).Workspace
	old, _ := ws.Image("//httpd")
	next, _ := ws.Image("//httpd-new")
	if old.Repository != "httpd" || next.Repository != "httpd" {
		t.Errorf("repositories = %q, %q; want both \"httpd\"", old.Repository, next.Repository)
	}
	if old.Version == next.Version {
		t.Errorf("httpd and httpd-new share version %s", old.Version)
	}
	if nfs, _ := ws.Image("//volume/nfs"); nfs.Repository != "volume/nfs" {
		t.Errorf("//volume/nfs repository = %q, want the label path", nfs.Repository)
	}
}

func TestPrebuilds(t *testing.T) {
	ws := loadGraph(t).Workspace
	bb, _ := ws.Image("//busybox")
	if len(bb.Prebuild) != 1 || bb.Prebuild[0].Kind != "deb_file" || bb.Prebuild[0].DebPackage != "busybox-static" ||
		bb.Prebuild[0].DebPath != "bin/busybox" || bb.Prebuild[0].Out != "busybox" || bb.Prebuild[0].DebVersion != "" {
		t.Errorf("//busybox prebuild = %+v, want deb_file busybox-static bin/busybox -> busybox", bb.Prebuild)
	}
	ag, _ := ws.Image("//agnhost")
	if len(ag.Prebuild) != 1 || ag.Prebuild[0].Kind != "go_binary" || ag.Prebuild[0].Out != "agnhost" {
		t.Fatalf("//agnhost prebuild = %+v, want one go_binary -> agnhost", ag.Prebuild)
	}
	srcs := ag.Prebuild[0].Srcs
	for _, want := range []string{"go.mod", "images/agnhost/main.go", "images/agnhost/netexec/netexec.go"} {
		if !slices.Contains(srcs, want) {
			t.Errorf("//agnhost go_binary srcs lack %s: %v", want, srcs)
		}
	}
}

// TestLinuxBuildsNeedNoRegistry checks every Linux node's base is scratch or
// in-tree, and every FROM in its Dockerfile is scratch or a build arg the
// builder fills with an in-tree reference.
func TestLinuxBuildsNeedNoRegistry(t *testing.T) {
	g := loadGraph(t)
	for _, n := range g.Nodes {
		if n.ID.Platform.IsWindows() {
			continue
		}
		if n.Decl.Base.Kind == load.BaseExternal {
			t.Errorf("%s: external base %s", n.ID, n.Decl.Base.Ref)
		}
		allowed := map[string]bool{"scratch": true, "$BASEIMAGE": true}
		for arg := range n.Decl.ImageArgs {
			allowed["$"+arg] = true
		}
		for _, from := range fromLines(t, filepath.Join(g.Workspace.Root, n.Decl.Dockerfile)) {
			if !allowed[from] {
				t.Errorf("%s: %s: FROM %s needs a registry", n.ID, n.Decl.Dockerfile, from)
			}
		}
	}
}

// fromLines returns the image operand of each FROM instruction.
func fromLines(t *testing.T, file string) []string {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 2 || !strings.EqualFold(fields[0], "FROM") {
			continue
		}
		fields = fields[1:]
		for len(fields) > 1 && strings.HasPrefix(fields[0], "--") {
			fields = fields[1:]
		}
		out = append(out, fields[0])
	}
	if len(out) == 0 {
		t.Errorf("%s has no FROM", file)
	}
	return out
}

func TestWindowsBases(t *testing.T) {
	g := loadGraph(t)
	for _, v := range windowsOS {
		n := node(t, g, "//busybox@windows/amd64/"+v)
		want := "mcr.microsoft.com/windows/nanoserver:" + v
		if n.Decl.Base.Kind != load.BaseExternal || n.Decl.Base.Ref != want {
			t.Errorf("%s base = %s, want %s", n.ID, n.Decl.Base, want)
		}
		if !strings.HasSuffix(n.Decl.Dockerfile, "Dockerfile_windows") {
			t.Errorf("%s dockerfile = %s, want Dockerfile_windows", n.ID, n.Decl.Dockerfile)
		}
		helper := node(t, g, "//windows-servercore-cache@linux/amd64/"+v)
		if helper.ID.Platform != (platform.Platform{OS: "linux", Arch: "amd64", OSVersion: v}) || helper.ID.Platform.TagSuffix() != "linux-amd64-"+v {
			t.Errorf("helper platform = %v (%s)", helper.ID.Platform, helper.ID.Platform.TagSuffix())
		}
	}
}
