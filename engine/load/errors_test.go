package load_test

import (
	"testing"
)

// TestLoadErrors covers every user error of the loader: each must be a
// declaration error at the exact file:line:col with a message that says
// what is wrong and what to do.
func TestLoadErrors(t *testing.T) {
	const img = "images/a/IMAGE.star"
	tests := []struct {
		name    string
		files   map[string]string
		wantPos string
		want    []string
	}{
		{
			name:    "syntax error",
			files:   map[string]string{img: "image(\n    version = \"1\"\n    base = \"scratch\",\n)\n"},
			wantPos: img + ":3:9",
			want:    []string{"syntax error", "got identifier, want ','"},
		},
		{
			name:    "syntax error in loaded library",
			files:   map[string]string{img: "load(\"//rules/x.star\", \"X\")\nimage(version = X)\n", "rules/x.star": "X = (\n"},
			wantPos: "rules/x.star:2:1",
			want:    []string{"syntax error"},
		},
		{
			name:    "unknown keyword argument points at the argument",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    verison = \"2\",\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`unknown argument "verison"`, `did you mean "version"`, "known arguments:"},
		},
		{
			name:    "unknown keyword argument of windows()",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    windows = windows(os_versions = [\"ltsc2022\"], base_image = \"x\"),\n)\n"},
			wantPos: img + ":3:51",
			want:    []string{"windows()", `unknown argument "base_image"`, "known arguments: os_versions, base"},
		},
		{
			name:    "positional argument",
			files:   map[string]string{img: "image(\"1\")\n"},
			wantPos: img + ":1:6",
			want:    []string{"keyword arguments only", "image(version = ...)"},
		},
		{
			name:    "wrong type: int version",
			files:   map[string]string{img: "image(\n    version = 1,\n)\n"},
			wantPos: img + ":2:5",
			want:    []string{`argument "version"`, "got int, want string"},
		},
		{
			name:    "wrong type: platforms as a string",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    platforms = \"linux/amd64\",\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "platforms"`, "want list of strings", `["linux/amd64"]`},
		},
		{
			name:    "wrong type: build_args value",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    build_args = {\"A\": 1},\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "build_args"`, "want string to string"},
		},
		{
			name:    "wrong type: base",
			files:   map[string]string{img: "image(version = \"1\", base = [\"alpine\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{`argument "base"`, "got list", "want a string"},
		},
		{
			name:    "wrong type: windows",
			files:   map[string]string{img: "image(version = \"1\", windows = [\"ltsc2022\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{`argument "windows"`, "got list", "want windows(os_versions"},
		},
		{
			name:    "wrong type through a macro points at the macro call",
			files:   map[string]string{img: "load(\"//rules/m.star\", \"mk\")\n\nmk(v = 1)\n", "rules/m.star": "def mk(v):\n    image(version = v)\n"},
			wantPos: img + ":3:3",
			want:    []string{`argument "version"`, "got int, want string"},
		},
		{
			name:    "missing version",
			files:   map[string]string{img: "image(\n    base = \"scratch\",\n)\n"},
			wantPos: img + ":1:6",
			want:    []string{`missing required argument "version"`},
		},
		{
			name:    "invalid version",
			files:   map[string]string{img: "image(version = \"1.0 beta\")\n"},
			wantPos: img + ":1:7",
			want:    []string{`argument "version"`, "not a valid tag"},
		},
		{
			name:    "version with a character a tag cannot hold",
			files:   map[string]string{img: "image(version = \"1.0+build\")\n"},
			wantPos: img + ":1:7",
			want:    []string{`argument "version"`, `"1.0+build" is not a valid tag`},
		},
		{
			name:    "version starting with a dot",
			files:   map[string]string{img: "image(version = \".1\")\n"},
			wantPos: img + ":1:7",
			want:    []string{`".1" is not a valid tag`, "not starting with '.'"},
		},
		{
			name:    "invalid repository",
			files:   map[string]string{img: "image(version = \"1\", repository = \"My Repo\")\n"},
			wantPos: img + ":1:22",
			want:    []string{`argument "repository"`, `"My Repo" is not a valid repository name`, `e.g. "my-repo"`},
		},
		{
			name:    "repository defaulting to an uppercase directory",
			files:   map[string]string{"images/MyImg/IMAGE.star": "image(version = \"1\")\n", "images/MyImg/Dockerfile": "FROM scratch\n"},
			wantPos: "images/MyImg/IMAGE.star:1:6",
			want:    []string{`defaults to the image's path "MyImg"`, `set repository = "myimg" or rename the directory`},
		},
		{
			name:    "image directory that is not a label",
			files:   map[string]string{"images/my img/IMAGE.star": "image(version = \"1\")\n", "images/my img/Dockerfile": "FROM scratch\n"},
			wantPos: "images/my img/IMAGE.star:1:1",
			want:    []string{"image directory images/my img", "character ' ' not allowed", "rename the directory"},
		},
		{
			name:    "misspelt builtin",
			files:   map[string]string{img: "imgae(version = \"1\")\n"},
			wantPos: img + ":1:1",
			want:    []string{"undefined: imgae (did you mean image?)"},
		},
		{
			name:    "docker_builder host without a scheme",
			files:   map[string]string{"WORKSPACE.star": "docker_builder(\n    os_version = \"ltsc2022\",\n    host = \"win2022:2376\",\n)\n"},
			wantPos: "WORKSPACE.star:3:5",
			want:    []string{"docker_builder()", `argument "host"`, `"win2022:2376" is not a Docker host URL`, "tcp://HOST:PORT"},
		},
		{
			name:    "docker_builder host that is not a URL",
			files:   map[string]string{"WORKSPACE.star": "docker_builder(os_version = \"ltsc2022\", host = \"tcp://[::1\")\n"},
			wantPos: "WORKSPACE.star:1:41",
			want:    []string{`"tcp://[::1" is not a Docker host URL`},
		},
		{
			name:    "workspace registry with a scheme",
			files:   map[string]string{"WORKSPACE.star": "workspace(\n    registry = \"http://127.0.0.1:5000\",\n)\n"},
			wantPos: "WORKSPACE.star:2:5",
			want:    []string{`argument "registry"`, `"http://127.0.0.1:5000" is not a registry`, "without a scheme"},
		},
		{
			name:    "no image call",
			files:   map[string]string{img: "X = 1\n"},
			wantPos: img + ":1:1",
			want:    []string{"no image(...) call", "exactly one image"},
		},
		{
			name:    "two image calls",
			files:   map[string]string{img: "image(version = \"1\")\n\nimage(version = \"2\")\n"},
			wantPos: img + ":3:6",
			want:    []string{"second image() call", "exactly one image", "the first is at " + img + ":1:6"},
		},
		{
			name:    "two image calls through a macro",
			files:   map[string]string{img: "load(\"//rules/m.star\", \"mk\")\nmk()\nmk()\n", "rules/m.star": "def mk():\n    image(version = \"1\")\n"},
			wantPos: img + ":3:3",
			want:    []string{"second image() call", "the first is at " + img + ":2:3"},
		},
		{
			name:    "image() at a library's top level",
			files:   map[string]string{img: "load(\"//rules/m.star\", \"X\")\n", "rules/m.star": "X = 1\nimage(version = \"1\")\n"},
			wantPos: "rules/m.star:2:6",
			want:    []string{"image() may only be called while evaluating an IMAGE.star"},
		},
		{
			name:    "unknown platform",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    platforms = [\"linux/amd65\"],\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "platforms"`, `unknown platform "linux/amd65"`, "amd64, arm64"},
		},
		{
			name:    "malformed platform",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    platforms = [\"linux\"],\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`malformed platform "linux"`, "os/arch"},
		},
		{
			name:    "unknown OS",
			files:   map[string]string{img: "image(version = \"1\", platforms = [\"darwin/arm64\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{`unknown platform "darwin/arm64"`, "linux or windows"},
		},
		{
			name:    "platform listed twice",
			files:   map[string]string{img: "image(version = \"1\", platforms = [\"linux/arm64\", \"linux/arm64\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{"linux/arm64 listed twice"},
		},
		{
			name:    "windows platform in platforms",
			files:   map[string]string{img: "image(version = \"1\", platforms = [\"windows/amd64/ltsc2022\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{"windows(os_versions = [\"ltsc2022\"])"},
		},
		{
			name:    "unknown platform in WORKSPACE.star",
			files:   map[string]string{"WORKSPACE.star": "workspace(\n    platforms = [\"linux/sparc\"],\n)\n"},
			wantPos: "WORKSPACE.star:2:5",
			want:    []string{"workspace()", `argument "platforms"`, `"linux/sparc"`},
		},
		{
			name:    "os_version not a Windows release",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    windows = windows(os_versions = [\"ltsc2023\"]),\n)\n"},
			wantPos: img + ":3:23",
			want:    []string{`"ltsc2023" is not a known Windows release`, "ltsc2022", "ltsc2025"},
		},
		{
			name:    "os_version in a Linux helper platform",
			files:   map[string]string{img: "image(version = \"1\", platforms = [\"linux/amd64/ltsc2030\"])\n"},
			wantPos: img + ":1:22",
			want:    []string{`"ltsc2030"`, "known Windows release"},
		},
		{
			name:    "os_version of docker_builder",
			files:   map[string]string{"WORKSPACE.star": "docker_builder(\n    host = \"tcp://h:2376\",\n    os_version = \"2022\",\n)\n"},
			wantPos: "WORKSPACE.star:3:5",
			want:    []string{"docker_builder()", `"2022" is not a known Windows release`},
		},
		{
			name:    "image_ref platform template with a bad release",
			files:   map[string]string{img: "image(version = \"1\", image_args = {\"H\": image_ref(\"//b\", platform = \"linux/amd64/ltsc1999\")})\n"},
			wantPos: img + ":1:58",
			want:    []string{"image_ref()", `argument "platform" = "linux/amd64/ltsc1999"`, `"ltsc1999" is neither a variant`},
		},
		{
			name:    "load of a missing file",
			files:   map[string]string{img: "load(\"//rules/nope.star\", \"X\")\nimage(version = \"1\")\n"},
			wantPos: img + ":1:1",
			want:    []string{"cannot find //rules/nope.star", "relative to the workspace root"},
		},
		{
			name:    "local load of a missing file",
			files:   map[string]string{img: "image(version = \"1\")\nload(\":defs.star\", \"X\")\n"},
			wantPos: img + ":2:1",
			want:    []string{"cannot find //images/a/defs.star"},
		},
		{
			name:    "load name without // or :",
			files:   map[string]string{img: "load(\"rules/x.star\", \"X\")\nimage(version = \"1\")\n"},
			wantPos: img + ":1:1",
			want:    []string{`load("rules/x.star")`, "start with // (workspace root) or :"},
		},
		{
			name:    "load escaping the workspace",
			files:   map[string]string{img: "load(\"//../x.star\", \"X\")\nimage(version = \"1\")\n"},
			wantPos: img + ":1:1",
			want:    []string{"escapes the workspace"},
		},
		{
			name: "load cycle",
			files: map[string]string{
				img:            "load(\"//rules/x.star\", \"X\")\nimage(version = \"1\")\n",
				"rules/x.star": "load(\":y.star\", \"Y\")\nX = 1\n",
				"rules/y.star": "# y\nload(\"//rules/x.star\", \"X\")\nY = 1\n",
			},
			wantPos: "rules/y.star:2:1",
			want:    []string{"load cycle:", "rules/x.star:1:1 loads //rules/y.star", "rules/y.star:2:1 loads //rules/x.star", "break the cycle"},
		},
		{
			name:    "file loading itself",
			files:   map[string]string{img: "load(\"//rules/x.star\", \"X\")\nimage(version = \"1\")\n", "rules/x.star": "load(\":x.star\", \"X\")\n"},
			wantPos: "rules/x.star:1:1",
			want:    []string{"load cycle:", "rules/x.star:1:1 loads //rules/x.star"},
		},
		{
			name:    "load of an undefined symbol",
			files:   map[string]string{img: "load(\"//rules/x.star\", \"Y\")\nimage(version = \"1\")\n", "rules/x.star": "X = 1\n"},
			wantPos: img + ":1:1",
			want:    []string{"name Y not found in module //rules/x.star"},
		},
		{
			name:    "context escapes the workspace",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    context = \"../../..\",\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "context"`, `"../../.." escapes the workspace`, "relative to images/a"},
		},
		{
			name:    "absolute context",
			files:   map[string]string{img: "image(version = \"1\", context = \"/etc\")\n"},
			wantPos: img + ":1:22",
			want:    []string{`argument "context"`, "escapes the workspace"},
		},
		{
			name:    "dockerfile escapes the workspace",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    dockerfile = \"../../../etc/passwd\",\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "dockerfile"`, "escapes the workspace"},
		},
		{
			name:    "windows dockerfile escapes the workspace",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    windows = windows(os_versions = [\"ltsc2022\"], dockerfile = \"../../../x\"),\n)\n"},
			wantPos: img + ":3:22",
			want:    []string{"windows(): dockerfile", "escapes the workspace"},
		},
		{
			name:    "missing dockerfile",
			files:   map[string]string{"images/a/Dockerfile": ""},
			wantPos: img + ":1:6",
			want:    []string{`argument "dockerfile"`, "images/a/Dockerfile does not exist"},
		},
		{
			name:    "glob escapes the image directory",
			files:   map[string]string{img: "FILES = glob([\"../*\"])\nimage(version = \"1\")\n"},
			wantPos: img + ":1:13",
			want:    []string{`glob(): pattern "../*" escapes the image directory`},
		},
		{
			name:    "glob with a dot-dot inside",
			files:   map[string]string{img: "FILES = glob([\"x/../../b/*\"])\nimage(version = \"1\")\n"},
			wantPos: img + ":1:13",
			want:    []string{"escapes the image directory"},
		},
		{
			name:    "go_binary package escapes the workspace",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    prebuild = [go_binary(package = \"../../../x\", out = \"x\")],\n)\n"},
			wantPos: img + ":3:27",
			want:    []string{"go_binary()", `argument "package"`, "escapes the workspace"},
		},
		{
			name:    "prebuild out escapes the context",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    prebuild = [deb_file(package = \"p\", path = \"bin/p\", out = \"../p\")],\n)\n"},
			wantPos: img + ":3:57",
			want:    []string{"deb_file()", `argument "out"`, `"../p"`, "build context"},
		},
		{
			name:    "syntax directive in the Dockerfile",
			files:   map[string]string{"images/a/Dockerfile": "# escape=\\\n#   syntax = docker/dockerfile:1.7\nFROM scratch\n"},
			wantPos: "images/a/Dockerfile:2:1",
			want:    []string{"syntax directive", "remove this line"},
		},
		{
			name:    "syntax directive in the Windows Dockerfile",
			files:   map[string]string{img: "image(version = \"1\", windows = windows(os_versions = [\"ltsc2022\"], base = \"mcr.microsoft.com/windows/nanoserver:ltsc2022\", dockerfile = \"Dockerfile_windows\"))\n", "images/a/Dockerfile_windows": "#syntax=docker/dockerfile:1\nFROM x\n"},
			wantPos: "images/a/Dockerfile_windows:1:1",
			want:    []string{"syntax directive"},
		},
		{
			name:    "runaway loop",
			files:   map[string]string{img: "def spin():\n    n = 0\n    for i in range(1000000000):\n        n += i\n    return n\n\nN = spin()\nimage(version = \"1\")\n"},
			wantPos: img + ":4:",
			want:    []string{"evaluation exceeded", "steps"},
		},
		{
			name:    "runaway loop in a library says where it was called from",
			files:   map[string]string{img: "load(\"//rules/m.star\", \"spin\")\nspin()\nimage(version = \"1\")\n", "rules/m.star": "def spin():\n    n = 0\n    for i in range(1000000000):\n        n += i\n    return n\n"},
			wantPos: "rules/m.star:4:", // the column depends on where the step budget runs out
			want:    []string{"evaluation exceeded", "called from " + img + ":2:5"},
		},
		{
			name:    "while is disabled",
			files:   map[string]string{img: "def f():\n    while True:\n        pass\nimage(version = \"1\")\n"},
			wantPos: img + ":2:5",
			want:    []string{"while"},
		},
		{
			name:    "recursion is disabled",
			files:   map[string]string{img: "def f(n):\n    return f(n)\nf(1)\nimage(version = \"1\")\n"},
			wantPos: img + ":2:12",
			want:    []string{"function f called recursively"},
		},
		{
			name:    "undefined name",
			files:   map[string]string{img: "image(version = VERSION)\n"},
			wantPos: img + ":1:17",
			want:    []string{"undefined: VERSION"},
		},
		{
			name:    "fail()",
			files:   map[string]string{img: "fail(\"no version for this platform\")\n"},
			wantPos: img + ":1:5",
			want:    []string{"no version for this platform"},
		},
		{
			name:    "base dict without a matching key",
			files:   map[string]string{img: "image(\n    version = \"1\",\n    base = {\"linux/amd64\": \"alpine\"},\n)\n"},
			wantPos: img + ":3:5",
			want:    []string{`argument "base"`, "no entry matches platform linux/arm64"},
		},
		{
			name:    "bad base selector",
			files:   map[string]string{img: "image(version = \"1\", base = {\"macos\": \"alpine\"})\n"},
			wantPos: img + ":1:22",
			want:    []string{`selector "macos"`, "linux or windows"},
		},
		{
			name:    "image_args value not a label",
			files:   map[string]string{img: "image(version = \"1\", image_args = {\"H\": \"alpine:3\"})\n"},
			wantPos: img + ":1:22",
			want:    []string{`argument "image_args"`, "in-tree label"},
		},
		{
			name:    "workspace images escapes",
			files:   map[string]string{"WORKSPACE.star": "workspace(images = \"../imgs\")\n"},
			wantPos: "WORKSPACE.star:1:11",
			want:    []string{`argument "images"`, "escapes the workspace"},
		},
		{
			name:    "workspace() called twice",
			files:   map[string]string{"WORKSPACE.star": "workspace()\nworkspace()\n"},
			wantPos: "WORKSPACE.star:2:10",
			want:    []string{"workspace() called twice"},
		},
		{
			name:    "image() in WORKSPACE.star",
			files:   map[string]string{"WORKSPACE.star": "image(version = \"1\")\n"},
			wantPos: "WORKSPACE.star:1:6",
			want:    []string{"image() may only be called while evaluating an IMAGE.star"},
		},
		{
			name:    "workspace() in IMAGE.star",
			files:   map[string]string{img: "workspace()\nimage(version = \"1\")\n"},
			wantPos: img + ":1:10",
			want:    []string{"workspace() may only be called in WORKSPACE.star"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := loadMap(t, tt.files)
			checkErr(t, err, tt.wantPos, tt.want...)
		})
	}
}
