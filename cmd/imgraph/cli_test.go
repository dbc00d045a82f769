package main

import (
	"bytes"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

var updateGolden = flag.Bool("update", false, "rewrite cmd/imgraph/testdata/golden/*.golden from the current output")

// cliRun runs the CLI in-process and returns stdout, stderr and the exit status.
func cliRun(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := runWith(append([]string{"imgraph"}, args...), &out, &errb)
	return out.String(), errb.String(), code
}

func assertNoPanic(t *testing.T, outputs ...string) {
	t.Helper()
	for _, s := range outputs {
		for _, bad := range []string{"panic", "goroutine", "runtime error", ".go:"} {
			if strings.Contains(s, bad) {
				t.Errorf("output mentions %q:\n%s", bad, s)
			}
		}
	}
}

// TestGolden pins the output of the query commands on the fixture
// workspace in testdata/ws. Refresh with: go test ./cmd/imgraph -run TestGolden -update
func TestGolden(t *testing.T) {
	t.Setenv("REGISTRY", "")
	ws := filepath.Join("testdata", "ws")
	tests := []struct {
		name string
		args []string
	}{
		{"deps_top", []string{"query", "deps", "//top"}},
		{"deps_win_json", []string{"query", "deps", "--output", "json", "//win"}},
		{"deps_images", []string{"query", "deps", "--images", "//top"}},
		{"rdeps_base", []string{"query", "rdeps", "//base"}},
		{"rdeps_helper_node", []string{"query", "rdeps", "//helper@linux/amd64/ltsc2025"}},
		{"graph_text", []string{"query", "graph"}},
		{"graph_json", []string{"query", "graph", "--output", "json"}},
		{"graph_dot", []string{"query", "graph", "--output", "dot"}},
		{"graph_dot_images", []string{"query", "graph", "--output", "dot", "--images"}},
		{"graph_mermaid", []string{"query", "graph", "--output", "mermaid", "//top", "//win"}},
		{"images_json", []string{"query", "images", "--output", "json"}},
		{"images_text_registry", []string{"--registry", "127.0.0.1:5000", "query", "images", "//tool", "//win"}},
		{"path_top_base", []string{"query", "path", "//top@linux/arm64", "//base"}},
		{"path_win_helper", []string{"query", "path", "--output", "json", "//win", "//helper"}},
		{"path_top_base_images", []string{"query", "path", "--images", "//top", "//base"}}, // in path order, not sorted
		{"path_top_base_images_json", []string{"query", "path", "--images", "-o", "json", "//top", "//base"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stdout, stderr, code := cliRun(t, append([]string{"--workspace", ws}, tt.args...)...)
			if code != 0 {
				t.Fatalf("exit %d; stderr:\n%s", code, stderr)
			}
			golden := filepath.Join("testdata", "golden", tt.name+".golden")
			if *updateGolden {
				if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(golden, []byte(stdout), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if stdout != string(want) {
				t.Errorf("output differs from %s (run with -update after checking):\n--- got\n%s--- want\n%s", golden, stdout, want)
			}
			if strings.Contains(tt.name, "dot") {
				checkDot(t, stdout)
			}
		})
	}
}

// checkDot feeds the dot output to Graphviz when it is installed.
func checkDot(t *testing.T, src string) {
	t.Helper()
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Log("dot not installed; skipping the Graphviz check")
		return
	}
	cmd := exec.Command(dot, "-Tsvg")
	cmd.Stdin = strings.NewReader(src)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil || stderr.Len() > 0 || !bytes.Contains(out, []byte("<svg")) {
		t.Errorf("dot -Tsvg rejected the output: %v\n%s", err, stderr.String())
	}
}

// badFiles is the valid base every bad-input case changes.
var badFiles = map[string]string{
	"WORKSPACE.star":      "workspace(platforms = [\"linux/amd64\", \"linux/arm64\"])\n",
	"images/a/Dockerfile": "FROM scratch\n",
	"images/a/IMAGE.star": "image(version = \"1\")\n",
}

// TestBadWorkspace: every kind of bad declaration exits 2 with the
// position and a hint, and never with a Go panic.
func TestBadWorkspace(t *testing.T) {
	const img = "images/a/IMAGE.star"
	tests := []struct {
		name  string
		files map[string]string
		links map[string]string
		want  []string // in stderr; the first is the position
	}{
		{"syntax error", map[string]string{img: "image(version = \"1\"\n"}, nil,
			[]string{img + ":2:1:", "syntax error"}},
		{"unknown keyword argument", map[string]string{img: "image(\n    version = \"1\",\n    bas = \"x\",\n)\n"}, nil,
			[]string{img + ":3:5:", `unknown argument "bas"`, `did you mean "base"?`}},
		{"wrong type", map[string]string{img: "image(\n    version = 1.0,\n)\n"}, nil,
			[]string{img + ":2:5:", `argument "version"`, "got float, want string"}},
		{"missing version", map[string]string{img: "image()\n"}, nil,
			[]string{img + ":1:6:", `missing required argument "version"`}},
		{"two image calls", map[string]string{img: "image(version = \"1\")\nimage(version = \"1\")\n"}, nil,
			[]string{img + ":2:6:", "second image() call"}},
		{"unknown in-tree label", map[string]string{img: "image(version = \"1\", base = \"//b\")\n", "images/bb/IMAGE.star": "image(version = \"1\")\n", "images/bb/Dockerfile": "FROM scratch\n"}, nil,
			[]string{img + ":1:22:", "unknown image //b", "did you mean //bb?"}},
		{"cycle", map[string]string{img: "image(version = \"1\", base = \"//b\")\n", "images/b/IMAGE.star": "image(version = \"1\", image_args = {\"X\": \"//a\"})\n", "images/b/Dockerfile": "FROM scratch\n"}, nil,
			[]string{img + ":1:22:", "dependency cycle:", "//a@linux/amd64 -> //b@linux/amd64", "//b@linux/amd64 -> //a@linux/amd64"}},
		{"child platform the parent lacks", map[string]string{img: "image(version = \"1\", base = \"//b\")\n", "images/b/IMAGE.star": "image(version = \"1\", platforms = [\"linux/amd64\"])\n", "images/b/Dockerfile": "FROM scratch\n"}, nil,
			[]string{img + ":1:22:", "images/b/IMAGE.star", "does not produce linux/arm64"}},
		{"unknown platform", map[string]string{img: "image(version = \"1\", platforms = [\"linux/x86_64\"])\n"}, nil,
			[]string{img + ":1:22:", `unknown platform "linux/x86_64"`}},
		{"malformed platform", map[string]string{"WORKSPACE.star": "workspace(platforms = [\"amd64\"])\n"}, nil,
			[]string{"WORKSPACE.star:1:11:", `malformed platform "amd64"`}},
		{"unknown os_version", map[string]string{img: "image(version = \"1\", windows = windows(os_versions = [\"2022\"]))\n"}, nil,
			[]string{img + ":1:40:", `"2022" is not a known Windows release`}},
		{"load of a missing file", map[string]string{img: "load(\"//rules/none.star\", \"X\")\nimage(version = \"1\")\n"}, nil,
			[]string{img + ":1:1:", "cannot find //rules/none.star"}},
		{"load cycle", map[string]string{img: "load(\"//rules/x.star\", \"X\")\nimage(version = \"1\")\n", "rules/x.star": "load(\"//rules/x.star\", \"X\")\nX = 1\n"}, nil,
			[]string{"rules/x.star:1:1:", "load cycle"}},
		{"context escapes", map[string]string{img: "image(version = \"1\", context = \"../../..\")\n"}, nil,
			[]string{img + ":1:22:", "escapes the workspace"}},
		{"dockerfile escapes", map[string]string{img: "image(version = \"1\", dockerfile = \"../../../Dockerfile\")\n"}, nil,
			[]string{img + ":1:22:", "escapes the workspace"}},
		{"glob escapes", map[string]string{img: "image(version = \"1\", labels = {\"f\": \",\".join(glob([\"../../*\"]))})\n"}, nil,
			[]string{img + ":1:50:", "escapes the image directory"}},
		{"context symlink escapes", map[string]string{img: "image(version = \"1\", context = \"ctx\")\n"}, map[string]string{"images/a/ctx": "/"},
			[]string{img + ":1:22:", "outside the workspace"}},
		{"dockerfile symlink escapes", map[string]string{img: "image(version = \"1\", dockerfile = \"df\")\n"}, map[string]string{"images/a/df": "../../../etc/passwd"},
			[]string{img + ":1:22:", "outside the workspace"}},
		{"glob symlink escapes", map[string]string{img: "image(version = \"1\", labels = {\"f\": \",\".join(glob([\"*\"]))})\n"}, map[string]string{"images/a/leak": "/etc/passwd"},
			[]string{img + ":1:50:", "outside the workspace"}},
		{"syntax directive", map[string]string{"images/a/Dockerfile": "# syntax=docker/dockerfile:1\nFROM scratch\n"}, nil,
			[]string{"images/a/Dockerfile:1:1:", "syntax directive"}},
		{"repository from an uppercase directory", map[string]string{"images/Up/IMAGE.star": "image(version = \"1\")\n", "images/Up/Dockerfile": "FROM scratch\n"}, nil,
			[]string{"images/Up/IMAGE.star:1:6:", `set repository = "up"`}},
		{"docker_builder host", map[string]string{"WORKSPACE.star": "docker_builder(os_version = \"ltsc2022\", host = \"win:2376\")\n"}, nil,
			[]string{"WORKSPACE.star:1:41:", "not a Docker host URL"}},
		{"runaway starlark", map[string]string{img: "def f():\n    for i in range(1000000000):\n        pass\nf()\nimage(version = \"1\")\n"}, nil,
			[]string{img + ":", "evaluation exceeded"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			root := t.TempDir()
			files := map[string]string{}
			for k, v := range badFiles {
				files[k] = v
			}
			for k, v := range tt.files {
				files[k] = v
			}
			writeFiles(t, root, files)
			for link, target := range tt.links {
				if err := os.Symlink(target, filepath.Join(root, filepath.FromSlash(link))); err != nil {
					t.Fatal(err)
				}
			}
			for _, args := range [][]string{{"query", "graph"}, {"build", "--dry-run"}} {
				stdout, stderr, code := cliRun(t, append([]string{"--workspace", root}, args...)...)
				if code != 2 {
					t.Errorf("%v: exit %d, want 2; stderr:\n%s", args, code, stderr)
				}
				for _, w := range tt.want {
					if !strings.Contains(stderr, w) {
						t.Errorf("%v: stderr does not mention %q:\n%s", args, w, stderr)
					}
				}
				assertNoPanic(t, stdout, stderr)
			}
		})
	}
}

// TestBadCommandLine: wrong flags, targets and arguments exit 2.
func TestBadCommandLine(t *testing.T) {
	ws := filepath.Join("testdata", "ws")
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"--workspace", ws, "query", "deps", "--output", "yaml"}, `--output "yaml"`},
		{[]string{"--workspace", ws, "query", "deps", "//tol"}, "did you mean //tool?"},
		{[]string{"--workspace", ws, "query", "deps", "//top@linux/s390x"}, "unknown node //top@linux/s390x"},
		{[]string{"--workspace", ws, "query", "path", "//top"}, "two targets"},
		{[]string{"--workspace", ws, "query", "images", "--output", "dot"}, "not supported"},
		{[]string{"--workspace", ws, "query", "deps", "--no-such-flag"}, "no-such-flag"},
		{[]string{"--workspace", ws, "frobnicate"}, "frobnicate"},
		{[]string{"--workspace", filepath.Join("testdata", "nope"), "query", "deps"}, "no WORKSPACE.star"},
		{[]string{"--workspace", ws, "biuld"}, `unknown command "biuld"; did you mean "build"?`},
		{[]string{"--workspace", ws, "query", "dep", "//top"}, `unknown command "query dep"; did you mean "query deps"?`},
		{[]string{"--workspace", ws, "help", "frobnicate"}, `unknown command "frobnicate"`},
		{[]string{"--workspace", ws, "build", "--dry-runn"}, "unknown flag --dry-runn; did you mean --dry-run? (imgraph build --help lists the flags)"},
		{[]string{"--worksapce", ws, "query", "graph"}, "unknown flag --worksapce; did you mean --workspace?"},
		{[]string{"--workspace", ws, "query", "graph", "--worksapce", ws}, "did you mean --workspace?"},
		{[]string{"--workspace", ws, "build", "-j", "abc"}, `-j "abc": want a whole number`},
		{[]string{"--workspace", ws, "build", "--dry-run", "--jobs", "0"}, "--jobs 0: want at least 1"},
		{[]string{"--workspace", ws, "build", "--keep-going=maybe"}, `--keep-going "maybe": want true or false`},
		{[]string{"--workspace", ws, "build", "--dry-run", "--metadata-file"}, "--metadata-file needs a value"},
		{[]string{"--workspace", ws, "query", "hash", "--output", "mermaid"}, "query hash: --output mermaid is not supported (text or json)"},
		{[]string{"--workspace", ws, "query", "images", "--images"}, "unknown flag --images"},
		{[]string{"--workspace", ws, "--registry", "https://r.example", "query", "images"}, `--registry: "https://r.example" is not a registry`},
		{[]string{"--workspace", ws, "affected"}, "affected needs --base REV"},
		{[]string{"--workspace", ws, "presubmit", "-o", "json"}, "presubmit needs --base REV"},
	}
	for _, tt := range tests {
		stdout, stderr, code := cliRun(t, tt.args...)
		if code != 2 {
			t.Errorf("%v: exit %d, want 2; stderr:\n%s", tt.args, code, stderr)
		}
		if !strings.Contains(stdout+stderr, tt.want) {
			t.Errorf("%v: output does not mention %q:\n%s%s", tt.args, tt.want, stdout, stderr)
		}
		// One line saying what is wrong, not the help text.
		for _, noise := range []string{"Incorrect Usage", "USAGE:", "No help topic"} {
			if strings.Contains(stdout+stderr, noise) {
				t.Errorf("%v: output has %q:\n%s%s", tt.args, noise, stdout, stderr)
			}
		}
		assertNoPanic(t, stdout, stderr)
	}
}

// TestCommandLine: help spellings and flag forms that must work.
func TestCommandLine(t *testing.T) {
	t.Setenv("REGISTRY", "")
	ws := filepath.Join("testdata", "ws")
	local := t.TempDir() // no registry: build --dry-run plans against the local layout
	writeFiles(t, local, badFiles)
	tests := []struct {
		args []string
		want string // in stdout
	}{
		{[]string{"help"}, "imgraph - build container images"},
		{[]string{"help", "build"}, "imgraph build - build TARGETS"},
		{[]string{"help", "query", "path"}, "imgraph query path - a dependency path"},
		{[]string{"--workspace", ws, "help", "query"}, "everything TARGETS build on"},
		{[]string{"query"}, "everything TARGETS build on"},
		// `--keep-going false` is the flag's value, not a target //false.
		{[]string{"--workspace", local, "build", "//a", "--keep-going", "false", "--dry-run"}, "//a@linux/arm64"},
		{[]string{"--workspace", local, "build", "--dry-run", "--platform=linux/arm64", "a"}, "//a@linux/arm64"},
	}
	for _, tt := range tests {
		stdout, stderr, code := cliRun(t, tt.args...)
		if code != 0 {
			t.Errorf("%v: exit %d, want 0; stderr:\n%s", tt.args, code, stderr)
		}
		if !strings.Contains(stdout, tt.want) {
			t.Errorf("%v: stdout does not mention %q:\n%s", tt.args, tt.want, stdout)
		}
		assertNoPanic(t, stdout, stderr)
	}
}

// TestDryRunNoBuilderHint: a Windows node without a builder is "not built",
// and the command says how to declare one.
func TestDryRunNoBuilderHint(t *testing.T) {
	t.Setenv("REGISTRY", "")
	t.Setenv("REMOTE_DOCKER_URL_LTSC2022", "")
	root := t.TempDir()
	writeFiles(t, root, badFiles)
	writeFiles(t, root, map[string]string{"images/a/IMAGE.star": "image(version = \"1\", windows = windows(os_versions = [\"ltsc2022\"]))\n"})
	stdout, stderr, code := cliRun(t, "--workspace", root, "build", "--dry-run")
	if code != 0 || !strings.Contains(stdout, "not built") {
		t.Fatalf("exit %d, want 0 with a node not built; stdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	want := `no builder for windows/amd64/ltsc2022: declare docker_builder(os_version = "ltsc2022", host = "tcp://HOST:2376") in WORKSPACE.star or set REMOTE_DOCKER_URL_LTSC2022`
	if !strings.Contains(stderr, want) {
		t.Errorf("stderr does not say how to get a builder:\n%s", stderr)
	}
}

// TestFmt: --check lists unformatted files relative to the workspace and
// exits 1; a syntax error names file:line:col and what the parser wanted,
// exits 2, and does not stop the other files from being formatted.
func TestFmt(t *testing.T) {
	root := t.TempDir()
	files := map[string]string{
		"WORKSPACE.star":      "workspace()\n",
		"images/a/IMAGE.star": "image(version=\"1\")\n",
		"rules/x.star":        "X = 1\n",
	}
	writeFiles(t, root, files)
	img := filepath.Join(root, "images", "a", "IMAGE.star")
	for _, args := range [][]string{{"fmt", "--check"}, {"fmt", "--check", "images"}, {"fmt", "--check", img}} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			t.Chdir(root)
			stdout, stderr, code := cliRun(t, args...)
			if code != 1 || !strings.Contains(stderr, "\n  images/a/IMAGE.star") || strings.Contains(stderr, "rules/x.star") {
				t.Errorf("exit %d, want 1 listing only images/a/IMAGE.star; stderr:\n%s", code, stderr)
			}
			assertNoPanic(t, stdout, stderr)
		})
	}
	bad := filepath.Join(root, "rules", "bad.star")
	if err := os.WriteFile(bad, []byte("X = [1,\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, stderr, code := cliRun(t, "--workspace", root, "fmt")
	if code != 2 || !strings.Contains(stderr, "rules/bad.star:2:1: syntax error: got end of file, want ']'") {
		t.Errorf("exit %d, want 2 naming rules/bad.star:2:1 and the expected token; stderr:\n%s", code, stderr)
	}
	if !strings.Contains(stdout, "formatted images/a/IMAGE.star") {
		t.Errorf("the formattable file was not formatted past the syntax error; stdout:\n%s", stdout)
	}
	if got, _ := os.ReadFile(img); string(got) != "image(version = \"1\")\n" {
		t.Errorf("images/a/IMAGE.star is now %q", got)
	}
	assertNoPanic(t, stdout, stderr)
}
