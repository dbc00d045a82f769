package label

import "testing"

func TestParse(t *testing.T) {
	for in, want := range map[string]string{
		"//agnhost": "//agnhost", "agnhost": "//agnhost", "//volume/nfs": "//volume/nfs", " //a.b-c_d+e ": "//a.b-c_d+e",
	} {
		got, err := Parse(in)
		if err != nil || string(got) != want {
			t.Errorf("Parse(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, in := range []string{"", "//", "//a/...", "//a/../b", "//a//b", "//a/", "///a", "//a b", "//a:b", "//./a"} {
		if l, err := Parse(in); err == nil {
			t.Errorf("Parse(%q) = %q, want an error", in, l)
		}
	}
}

func TestPattern(t *testing.T) {
	tests := []struct {
		pat   string
		match []string
		miss  []string
	}{
		{"//...", []string{"//a", "//volume/nfs"}, nil},
		{"//volume/...", []string{"//volume", "//volume/nfs", "//volume/x/y"}, []string{"//volumes", "//a"}},
		{"agnhost", []string{"//agnhost"}, []string{"//agnhost/x", "//agnhos"}},
	}
	for _, tt := range tests {
		p, err := ParsePattern(tt.pat)
		if err != nil {
			t.Fatalf("ParsePattern(%q): %v", tt.pat, err)
		}
		for _, l := range tt.match {
			if !p.Match(Label(l)) {
				t.Errorf("%s does not match %s", tt.pat, l)
			}
		}
		for _, l := range tt.miss {
			if p.Match(Label(l)) {
				t.Errorf("%s matches %s", tt.pat, l)
			}
		}
	}
	for _, bad := range []string{"//a/../...", "///...", "//a b/..."} {
		if _, err := ParsePattern(bad); err == nil {
			t.Errorf("ParsePattern(%q): no error", bad)
		}
	}
}
