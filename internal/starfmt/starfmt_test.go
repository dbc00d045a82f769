package starfmt

import "testing"

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
