package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/vcs/vcstest"
)

// presubmitFixture: base image //a (context: a shared directory), //b on
// it, unrelated //c; both //a and //b load rules/p.star.
var presubmitFixture = map[string]string{
	"WORKSPACE.star": `workspace(platforms = ["linux/amd64", "linux/arm64"])` + "\n",
	"rules/p.star": `# settings shared by the images
A_LABELS = {"team": "sig-a"}
B_ARGS = {"MODE": "1"}
`,
	"images/a/IMAGE.star": `load("//rules/p.star", "A_LABELS")

# the base image; keep this comment
image(
    version = "1.0.0",  # bumped by presubmit fixes
    context = "../../shared",
    labels = A_LABELS,
)
`,
	"images/a/Dockerfile": "FROM scratch\nCOPY data.txt /\n",
	"shared/data.txt":     "v1\n",
	"images/b/IMAGE.star": `load("//rules/p.star", "B_ARGS")

image(
    version = '2.1',
    base = "//a",
    build_args = B_ARGS,
)
`,
	"images/b/Dockerfile": "ARG BASEIMAGE\nFROM $BASEIMAGE\nARG MODE\n",
	"images/c/IMAGE.star": "image(version = \"v3\")\n",
	"images/c/Dockerfile": "FROM scratch\nCOPY c.txt /\n",
	"images/c/c.txt":      "c\n",
}

// presubmitRepo commits the fixture as the base revision and applies
// edit to the working tree (committed as head when commit is set).
func presubmitRepo(t *testing.T, edit map[string]string, commit bool) (r *vcstest.Repo, base, head string) {
	t.Helper()
	r = vcstest.New(t)
	r.Write(presubmitFixture)
	r.Write(map[string]string{".gitignore": ".imgraph/\n"})
	base = r.Commit("base")
	r.Write(edit)
	if commit {
		head = r.Commit("head")
	}
	return r, base, head
}

// affectedJSON is `affected --output json` as docs/presubmit.md documents it.
type affectedJSON struct {
	Base    string `json:"base"`
	Head    string `json:"head"`
	Changed []struct {
		Status string `json:"status"`
		Path   string `json:"path"`
	} `json:"changed_files"`
	Affected []struct {
		Label       string   `json:"label"`
		Direct      bool     `json:"direct"`
		New         bool     `json:"new"`
		Reasons     []string `json:"reasons"`
		Platforms   []string `json:"platforms"`
		File        string   `json:"file"`
		Version     string   `json:"version"`
		BaseVersion string   `json:"base_version"`
	} `json:"affected"`
	Removed []string `json:"removed"`
}

func TestAffectedCLI(t *testing.T) {
	tests := []struct {
		name    string
		edit    map[string]string
		commit  bool // compare with --head (a commit) instead of the working tree
		base    string
		want    string              // stdout
		reasons map[string][]string // from --output json
		code    int
		stderr  []string
	}{
		{
			name:    "context file of //a",
			edit:    map[string]string{"shared/data.txt": "v2\n"},
			want:    "//a\n//b\n",
			reasons: map[string][]string{"//a": {"changed: shared/data.txt"}, "//b": {"parent //a changed"}},
		},
		{
			name:    "rules/p.star changes only //b's declaration",
			edit:    map[string]string{"rules/p.star": strings.Replace(presubmitFixture["rules/p.star"], `"MODE": "1"`, `"MODE": "2"`, 1)},
			commit:  true,
			want:    "//b\n",
			reasons: map[string][]string{"//b": {"rules/p.star changed"}},
		},
		{
			name:    "comment and whitespace only IMAGE.star",
			edit:    map[string]string{"images/c/IMAGE.star": "# c: unrelated\nimage(\n    version = \"v3\",\n)\n", "images/a/IMAGE.star": strings.Replace(presubmitFixture["images/a/IMAGE.star"], "keep this comment", "keep this comment, please", 1)},
			want:    "",
			reasons: map[string][]string{},
		},
		{
			name:   "unknown base",
			base:   "no-such-branch",
			code:   2,
			stderr: []string{`revision "no-such-branch" is not in this clone`, "git fetch origin no-such-branch"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, base, head := presubmitRepo(t, tc.edit, tc.commit)
			if tc.base != "" {
				base = tc.base
			}
			args := []string{"--workspace", r.Dir, "affected", "--base", base}
			if head != "" {
				args = append(args, "--head", head)
			}
			out, errOut, code := runCLI(t, args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s\n%s", code, tc.code, out, errOut)
			}
			for _, s := range tc.stderr {
				if !strings.Contains(errOut, s) {
					t.Errorf("stderr lacks %q:\n%s", s, errOut)
				}
			}
			if code != 0 {
				return
			}
			if out != tc.want {
				t.Errorf("stdout = %q, want %q", out, tc.want)
			}
			out, errOut, code = runCLI(t, append(args, "--output", "json")...)
			if code != 0 {
				t.Fatalf("--output json: exit %d\n%s", code, errOut)
			}
			var res affectedJSON
			if err := json.Unmarshal([]byte(out), &res); err != nil {
				t.Fatalf("--output json is not JSON: %v\n%s", err, out)
			}
			got := map[string][]string{}
			for _, a := range res.Affected {
				got[a.Label] = a.Reasons
			}
			if !reflect.DeepEqual(got, tc.reasons) {
				t.Errorf("reasons = %v, want %v", got, tc.reasons)
			}
		})
	}
}

// The JSON fields docs/presubmit.md documents, with their values.
func TestAffectedCLIJSON(t *testing.T) {
	r, base, _ := presubmitRepo(t, map[string]string{"shared/data.txt": "v2\n"}, false)
	out, errOut, code := runCLI(t, "--workspace", r.Dir, "affected", "--base", base, "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(out), &raw); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	for _, k := range []string{"base", "head", "changed_files", "affected"} {
		if _, ok := raw[k]; !ok {
			t.Errorf("no %q field:\n%s", k, out)
		}
	}
	var items []map[string]json.RawMessage
	json.Unmarshal(raw["affected"], &items)
	for _, it := range items {
		for _, k := range []string{"label", "direct", "reasons", "platforms", "file", "version", "base_version"} {
			if _, ok := it[k]; !ok {
				t.Errorf("affected entry without %q: %s", k, out)
			}
		}
		if _, ok := it["new"]; ok {
			t.Errorf("\"new\" present for an image that is in base: %s", out)
		}
	}
	var res affectedJSON
	json.Unmarshal([]byte(out), &res)
	if want := "base " + base[:12]; res.Base != want || res.Head != "working tree" {
		t.Errorf("base, head = %q, %q; want %q, \"working tree\"", res.Base, res.Head, want)
	}
	if len(res.Changed) != 1 || res.Changed[0].Status != "M" || res.Changed[0].Path != "shared/data.txt" {
		t.Errorf("changed_files = %+v", res.Changed)
	}
	if len(res.Affected) != 2 {
		t.Fatalf("affected = %+v", res.Affected)
	}
	a, b := res.Affected[0], res.Affected[1]
	if a.Label != "//a" || !a.Direct || a.File != "images/a/IMAGE.star" || a.Version != "1.0.0" || a.BaseVersion != "1.0.0" ||
		strings.Join(a.Platforms, ",") != "linux/amd64,linux/arm64" {
		t.Errorf("//a entry = %+v", a)
	}
	if b.Label != "//b" || b.Direct || b.File != "images/b/IMAGE.star" || b.Version != "2.1" {
		t.Errorf("//b entry = %+v", b)
	}
}

// versionPos is file:line:col of the version argument in a fixture file.
func versionPos(file string) string {
	for i, line := range strings.Split(presubmitFixture[file], "\n") {
		if c := strings.Index(line, "version ="); c >= 0 {
			return fmt.Sprintf("%s:%d:%d", file, i+1, c+1)
		}
	}
	return file + ": no version"
}

// presubmit fails while //a changed and neither //a nor //b was bumped;
// bump --with-dependents fixes both, keeping the files' comments.
func TestPresubmitBumpCLI(t *testing.T) {
	r, base, _ := presubmitRepo(t, map[string]string{"shared/data.txt": "v2\n"}, false)
	ws := []string{"--workspace", r.Dir}

	out, errOut, code := runCLI(t, append(ws, "presubmit", "--base", base)...)
	if code != 1 {
		t.Fatalf("presubmit without bumps: exit %d, want 1\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"FAIL: 2 violations\n",
		versionPos("images/a/IMAGE.star") + ": //a changed",
		"[version-not-bumped]\n    fix: imgraph bump //a",
		versionPos("images/b/IMAGE.star") + ": //b",
		"[parent-changed-version-not-bumped]\n    fix: imgraph bump //b",
		"bump them all at once: imgraph bump //a //b\n",
		"  //a 1.0.0: changed: shared/data.txt\n",
		"  //b 2.1: parent //a changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("presubmit report lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "//c") {
		t.Errorf("presubmit report names the unrelated //c:\n%s", out)
	}

	out, errOut, code = runCLI(t, append(ws, "presubmit", "--base", base, "--output", "json")...)
	if code != 1 {
		t.Fatalf("presubmit --output json: exit %d\n%s", code, errOut)
	}
	var rep struct {
		OK         bool            `json:"ok"`
		Result     json.RawMessage `json:"result"`
		Violations []struct {
			Kind, Label, File string
			Line, Col         int
			Fix               string
		} `json:"violations"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("presubmit JSON: %v\n%s", err, out)
	}
	var kinds []string
	for _, v := range rep.Violations {
		kinds = append(kinds, fmt.Sprintf("%s %s %s:%d:%d", v.Label, v.Kind, v.File, v.Line, v.Col))
	}
	wantKinds := []string{
		"//a version-not-bumped " + versionPos("images/a/IMAGE.star"),
		"//b parent-changed-version-not-bumped " + versionPos("images/b/IMAGE.star"),
	}
	if rep.OK || !reflect.DeepEqual(kinds, wantKinds) || len(rep.Result) == 0 || string(rep.Result) == "null" {
		t.Errorf("presubmit JSON: ok=%v violations=%v, want %v; result %s", rep.OK, kinds, wantKinds, rep.Result)
	}

	out, errOut, code = runCLI(t, append(ws, "bump", "//a", "--with-dependents")...)
	if code != 0 {
		t.Fatalf("bump: exit %d\n%s\n%s", code, out, errOut)
	}
	if !strings.Contains(out, "//a: 1.0.0 -> 1.0.1") || !strings.Contains(out, "//b: 2.1 -> 2.2") {
		t.Errorf("bump output:\n%s", out)
	}
	// Only the version literals changed: comments, spacing and quotes kept.
	for file, want := range map[string]string{
		"images/a/IMAGE.star": strings.Replace(presubmitFixture["images/a/IMAGE.star"], `"1.0.0"`, `"1.0.1"`, 1),
		"images/b/IMAGE.star": strings.Replace(presubmitFixture["images/b/IMAGE.star"], `'2.1'`, `'2.2'`, 1),
		"images/c/IMAGE.star": presubmitFixture["images/c/IMAGE.star"],
	} {
		got, err := os.ReadFile(filepath.Join(r.Dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if string(got) != want {
			t.Errorf("%s after bump:\n%s\nwant:\n%s", file, got, want)
		}
	}

	out, errOut, code = runCLI(t, append(ws, "presubmit", "--base", base)...)
	if code != 0 {
		t.Fatalf("presubmit after bump: exit %d, want 0\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{
		"PASS: 2 affected images, every version bumped\n",
		// The version is part of the declaration, so IMAGE.star is a reason now.
		"  //a 1.0.0 -> 1.0.1: changed: images/a/IMAGE.star; changed: shared/data.txt\n",
		"  //b 2.1 -> 2.2: changed: images/b/IMAGE.star; parent //a changed\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("presubmit after bump lacks %q:\n%s", want, out)
		}
	}
}
