package starfmt

import (
	"strings"
	"testing"
)

func TestSourceKeepsArgumentOrderAndFormats(t *testing.T) {
	in := "# agnhost\nimage(version='2.63.0', base = \"//busybox\",platforms=[\"linux/amd64\"])\n"
	want := `# agnhost
image(
    version = "2.63.0",
    base = "//busybox",
    platforms = ["linux/amd64"],
)
`
	out, err := Source("images/a/IMAGE.star", []byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	again, _ := Source("images/a/IMAGE.star", out)
	if string(again) != string(out) {
		t.Errorf("not idempotent:\n%s", again)
	}
	if _, err := Source("images/a/IMAGE.star", []byte("image(")); err == nil {
		t.Error("a syntax error was accepted")
	}
}

// TestSourceSyntaxError: the error names file:line:col and what the parser
// expected (buildtools alone says only "syntax error").
func TestSourceSyntaxError(t *testing.T) {
	tests := []struct{ path, src, want string }{
		{"rules/x.star", "X = [1,\n", "rules/x.star:2:1: syntax error: got end of file, want ']'"},
		{"images/a/IMAGE.star", "image(version = \"1\"\n", "images/a/IMAGE.star:2:1: syntax error: got end of file, want ')'"},
		{"images/a/IMAGE.star", "image(version = = \"1\")\n", "images/a/IMAGE.star:1:17: syntax error: got '=', want primary expression"},
	}
	for _, tt := range tests {
		_, err := Source(tt.path, []byte(tt.src))
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "then run imgraph fmt again") {
			t.Errorf("Source(%q): %v, want it to contain %q", tt.src, err, tt.want)
		}
	}
}
