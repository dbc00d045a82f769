package affected_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/affected"
	"github.com/imgraph/imgraph/engine/label"
	"github.com/imgraph/imgraph/engine/vcs/vcstest"
)

// fixture is the base commit of every test: a small workspace with a
// chain //base <- //agnhost <- //child, an image whose context is a shared
// directory outside images/, and one with build args.
var fixture = map[string]string{
	"WORKSPACE.star": `load("//rules/platforms.star", "PLATFORMS")

# settings
workspace(images = "images", platforms = PLATFORMS)
`,
	"rules/platforms.star": `PLATFORMS = ["linux/amd64", "linux/arm64"]
`,
	"rules/lib.star": `def labels():
    return {"team": "sig-testing"}
`,
	"images/base/IMAGE.star": `image(version = "1.0.0", repository = "base")
`,
	"images/base/Dockerfile": "FROM scratch\nCOPY . /\n",
	"images/agnhost/IMAGE.star": `load("//rules/lib.star", "labels")

image(
    version = "2.63.0",
    base = "//base",
    labels = labels(),
)
`,
	"images/agnhost/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nCOPY main.go /\n",
	"images/agnhost/main.go":    "package main\n",
	"images/child/IMAGE.star": `image(
    version = "1.0",
    base = "//agnhost",
)
`,
	"images/child/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\n",
	"images/ctx/IMAGE.star": `image(version = "v4", context = "../../shared")
`,
	"images/ctx/Dockerfile":  "FROM scratch\nCOPY . /\n",
	"shared/data.txt":        "shared\n",
	"shared/notes.tmp":       "ignored\n",
	"shared/.dockerignore":   "*.tmp\n",
	"images/args/IMAGE.star": "image(version = \"1\", build_args = {\"X\": \"1\"})\n",
	"images/args/Dockerfile": "FROM scratch\nARG X\n",
	"docs/README.md":         "docs\n",
}

type edit func(r *vcstest.Repo)

func write(files map[string]string) edit { return func(r *vcstest.Repo) { r.Write(files) } }

func setup(t *testing.T, e edit, commit bool) (*vcstest.Repo, string, string) {
	t.Helper()
	r := vcstest.New(t)
	r.Write(fixture)
	base := r.Commit("base")
	r.Git("checkout", "-q", "-b", "topic")
	e(r)
	head := ""
	if commit {
		head = r.Commit("head")
	}
	return r, base, head
}

func run(t *testing.T, r *vcstest.Repo, base, head string) *affected.Comparison {
	t.Helper()
	cmp, err := affected.Run(context.Background(), affected.Options{Dir: r.Dir, Base: base, Head: head})
	if err != nil {
		t.Fatal(err)
	}
	return cmp
}

func reasons(res *affected.Result) map[label.Label][]string {
	out := map[label.Label][]string{}
	for _, a := range res.Affected {
		out[a.Label] = a.Reasons
	}
	return out
}

func TestAffected(t *testing.T) {
	agnhostChanged := map[label.Label][]string{
		"//agnhost": {"changed: images/agnhost/main.go"},
		"//child":   {"parent //agnhost changed"},
	}
	tests := []struct {
		name     string
		edit     edit
		worktree bool // compare with the working tree instead of a commit
		want     map[label.Label][]string
		removed  []label.Label
	}{
		{name: "context file", edit: write(map[string]string{"images/agnhost/main.go": "package main // v2\n"}), want: agnhostChanged},
		{name: "context file, working tree", edit: write(map[string]string{"images/agnhost/main.go": "package main // v2\n"}), worktree: true, want: agnhostChanged},
		{name: "new untracked file, working tree", edit: write(map[string]string{"images/agnhost/extra.go": "package main\n"}), worktree: true,
			want: map[label.Label][]string{"//agnhost": {"changed: images/agnhost/extra.go"}, "//child": {"parent //agnhost changed"}}},
		{name: "dockerfile", edit: write(map[string]string{"images/base/Dockerfile": "FROM scratch\nCOPY . /x/\n"}),
			want: map[label.Label][]string{"//base": {"changed: images/base/Dockerfile"}, "//agnhost": {"parent //base changed"}, "//child": {"parent //agnhost changed"}}},
		{name: "loaded star file", edit: write(map[string]string{"rules/lib.star": "def labels():\n    return {\"team\": \"sig-node\"}\n"}),
			want: map[label.Label][]string{"//agnhost": {"rules/lib.star changed"}, "//child": {"parent //agnhost changed"}}},
		{name: "star file loaded by WORKSPACE.star", edit: write(map[string]string{"rules/platforms.star": "PLATFORMS = [\"linux/amd64\", \"linux/arm64\", \"linux/s390x\"]\n"}),
			want: allImages("new platform linux/s390x", "rules/platforms.star changed")},
		{name: "WORKSPACE.star", edit: write(map[string]string{"WORKSPACE.star": "workspace(images = \"images\", platforms = [\"linux/amd64\", \"linux/arm64\", \"linux/s390x\"])\n"}),
			want: allImages("WORKSPACE.star changed", "new platform linux/s390x")},
		{name: "platform dropped", edit: write(map[string]string{"rules/platforms.star": "PLATFORMS = [\"linux/amd64\"]\n"}), want: nil},
		{name: "comment-only WORKSPACE.star", edit: write(map[string]string{"WORKSPACE.star": strings.Replace(fixture["WORKSPACE.star"], "# settings", "# the settings", 1)}), want: nil},
		{name: "whitespace-only IMAGE.star", edit: write(map[string]string{"images/agnhost/IMAGE.star": "load(\"//rules/lib.star\", \"labels\")\nimage(version = \"2.63.0\", base = \"//base\",\n  labels = labels())\n"}), want: nil},
		{name: "shared context file", edit: write(map[string]string{"shared/data.txt": "new\n"}),
			want: map[label.Label][]string{"//ctx": {"changed: shared/data.txt"}}},
		{name: "ignored context file", edit: write(map[string]string{"shared/notes.tmp": "still ignored\n"}), want: nil},
		{name: "dockerignore", edit: write(map[string]string{"shared/.dockerignore": "*.tmp\ndata.txt\n"}),
			want: map[label.Label][]string{"//ctx": {"changed: shared/.dockerignore"}}},
		{name: "build arg", edit: write(map[string]string{"images/args/IMAGE.star": "image(version = \"1\", build_args = {\"X\": \"2\"})\n"}),
			want: map[label.Label][]string{"//args": {"changed: images/args/IMAGE.star"}}},
		{name: "file outside every context", edit: write(map[string]string{"docs/README.md": "more docs\n"}), want: nil},
		{name: "rename of an image directory", edit: func(r *vcstest.Repo) {
			r.Rename("images/agnhost", "images/agnhost2")
			r.Write(map[string]string{"images/child/IMAGE.star": "image(\n    version = \"1.0\",\n    base = \"//agnhost2\",\n)\n"})
		}, want: map[label.Label][]string{
			"//agnhost2": {"new image (images/agnhost2/IMAGE.star)"},
			"//child":    {"changed: images/child/IMAGE.star", "parent //agnhost2 changed"},
		}, removed: []label.Label{"//agnhost"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, base, head := setup(t, tc.edit, !tc.worktree)
			cmp := run(t, r, base, head)
			got := reasons(cmp.Result)
			if tc.want == nil {
				tc.want = map[label.Label][]string{}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("affected:\n got %v\nwant %v\nchanged files: %v", got, tc.want, cmp.Result.Changed)
			}
			if !reflect.DeepEqual(cmp.Result.Removed, tc.removed) {
				t.Errorf("removed = %v, want %v", cmp.Result.Removed, tc.removed)
			}
		})
	}
}

func allImages(reasons ...string) map[label.Label][]string {
	out := map[label.Label][]string{}
	for _, l := range []label.Label{"//agnhost", "//args", "//base", "//child", "//ctx"} {
		out[l] = reasons
	}
	return out
}

func TestWorkingTreeUntouched(t *testing.T) {
	// Evaluating an old revision must not check it out.
	r, base, _ := setup(t, write(map[string]string{"images/agnhost/main.go": "package main // v2\n"}), false)
	run(t, r, base, "")
	if st := r.Git("status", "--porcelain"); st != "M images/agnhost/main.go" {
		t.Errorf("git status after affected = %q", st)
	}
}
