package bump

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNext(t *testing.T) {
	tests := []struct {
		in   string
		part Part
		want string
	}{
		{"2.63.0", Auto, "2.63.1"},
		{"2.63.0", Patch, "2.63.1"},
		{"2.63.0", Minor, "2.64.0"},
		{"2.63.0", Major, "3.0.0"},
		{"1.9", Auto, "1.10"},
		{"1.9", Minor, "1.10"},
		{"1.9", Patch, "1.9.1"},
		{"1.9", Major, "2.0"},
		{"1.37.0-2", Auto, "1.37.0-3"},
		{"1.37.0-2", Patch, "1.37.1-1"},
		{"1.37.0-2", Major, "2.0.0-1"},
		{"v4", Auto, "v5"},
		{"v4", Major, "v5"},
		{"v4", Minor, "v4.1"},
		{"1.2.3.4", Auto, "1.2.4.0"},
	}
	for _, tc := range tests {
		got, err := Next(tc.in, tc.part)
		if err != nil || got != tc.want {
			t.Errorf("Next(%q, %q) = %q, %v; want %q", tc.in, tc.part, got, err, tc.want)
		}
		if c, ok := Compare(got, tc.in); !ok || c != 1 {
			t.Errorf("Compare(%q, %q) = %d, %v; a bumped version must be greater", got, tc.in, c, ok)
		}
	}
	for _, bad := range []string{"latest", "1.0-alpha", "1..2", "v", ""} {
		if _, err := Next(bad, Auto); err == nil {
			t.Errorf("Next(%q) succeeded; want an error", bad)
		}
	}
}

func TestCompare(t *testing.T) {
	tests := []struct {
		a, b string
		want int
		ok   bool
	}{
		{"1.10", "1.9", 1, true},
		{"1.9", "1.9.0", 0, true},
		{"2.63.0", "2.62.9", 1, true},
		{"1.37.0-1", "1.37.0", 1, true},
		{"1.37.0-1", "1.37.0-2", -1, true},
		{"v4", "v10", -1, true},
		{"v4", "4", 0, true},
		{"latest", "1.0", 0, false},
		{"1.0-alpha", "1.0-beta", 0, false},
	}
	for _, tc := range tests {
		got, ok := Compare(tc.a, tc.b)
		if got != tc.want || ok != tc.ok {
			t.Errorf("Compare(%q, %q) = %d, %v; want %d, %v", tc.a, tc.b, got, ok, tc.want, tc.ok)
		}
	}
}

func TestSetVersionKeepsFormatting(t *testing.T) {
	tests := []struct {
		name, src, v, want string
	}{
		{
			name: "comments and odd spacing",
			src:  "# keep me\nload(\"//rules/x.star\",  \"X\")\n\nimage(\n    version   =   \"2.63.0\",   # the tag\n  base = \"//a\" ,\n\n    # trailing comment\n)\n",
			v:    "2.63.1",
			want: "# keep me\nload(\"//rules/x.star\",  \"X\")\n\nimage(\n    version   =   \"2.63.1\",   # the tag\n  base = \"//a\" ,\n\n    # trailing comment\n)\n",
		},
		{
			name: "single quotes",
			src:  "image(version='v4')",
			v:    "v5",
			want: "image(version='v5')",
		},
		{
			name: "macro call",
			src:  "load(\"//rules/images.star\", \"go_image\")\ngo_image(binary = \"agnhost\", version = \"2.63.0\")\n",
			v:    "2.64.0",
			want: "load(\"//rules/images.star\", \"go_image\")\ngo_image(binary = \"agnhost\", version = \"2.64.0\")\n",
		},
	}
	for _, tc := range tests {
		got, site, err := SetVersion("IMAGE.star", []byte(tc.src), tc.v)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if string(got) != tc.want {
			t.Errorf("%s: got\n%s\nwant\n%s", tc.name, got, tc.want)
		}
		if site.Line == 0 {
			t.Errorf("%s: no position", tc.name)
		}
	}
}

func TestRefusesNonLiteral(t *testing.T) {
	tests := []struct {
		src     string
		line    int
		inError string
	}{
		{"load(\"//v.star\", \"VERSION\")\n\nimage(\n    version = VERSION,\n)\n", 4, "version = VERSION is not a string literal"},
		{"image(version = \"1.0\" + SUFFIX)\n", 1, "not a string literal"},
		{"image(base = \"scratch\")\n", 1, "no version"},
	}
	for _, tc := range tests {
		_, _, err := SetVersion("images/x/IMAGE.star", []byte(tc.src), "2")
		var nl *NotLiteralError
		if !errors.As(err, &nl) || nl.Line != tc.line || !strings.Contains(err.Error(), tc.inError) || !strings.HasPrefix(err.Error(), "images/x/IMAGE.star:") {
			t.Errorf("SetVersion(%q): %v; want NotLiteralError at line %d mentioning %q", tc.src, err, tc.line, tc.inError)
		}
	}
}

func TestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "IMAGE.star")
	src := "image(\n  version = \"1.37.0-2\",  # busybox\n)\n"
	if err := os.WriteFile(p, []byte(src), 0o640); err != nil {
		t.Fatal(err)
	}
	res, err := File(p, "images/busybox/IMAGE.star", Auto)
	if err != nil {
		t.Fatal(err)
	}
	if res.Old != "1.37.0-2" || res.New != "1.37.0-3" || res.Site.Line != 2 {
		t.Errorf("result = %+v", res)
	}
	got, _ := os.ReadFile(p)
	if want := strings.Replace(src, "1.37.0-2", "1.37.0-3", 1); string(got) != want {
		t.Errorf("file = %q, want %q", got, want)
	}
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode = %v, want 0640", fi.Mode())
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("temporary files left behind: %v", ents)
	}
}
