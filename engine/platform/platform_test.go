package platform

import (
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	for in, suffix := range map[string]string{
		"linux/amd64":            "linux-amd64",
		"linux/arm":              "linux-arm",
		"linux/arm/v7":           "linux-arm-v7",
		"linux/arm64/v8":         "linux-arm64-v8",
		"windows/amd64/ltsc2022": "windows-amd64-ltsc2022",
		"linux/amd64/ltsc2025":   "linux-amd64-ltsc2025",
	} {
		p, err := Parse(in)
		if err != nil {
			t.Errorf("Parse(%q): %v", in, err)
			continue
		}
		if p.String() != in || p.TagSuffix() != suffix {
			t.Errorf("Parse(%q) = %q (suffix %q), want suffix %q", in, p, p.TagSuffix(), suffix)
		}
	}
	for in, want := range map[string]string{
		"linux":                     "malformed platform",
		"linux/amd64/v1/ltsc2022/x": "malformed platform",
		"linux/amd65":               `architecture "amd65"`,
		"linux/amd64/v7":            "has no variant",
		"darwin/arm64":              "OS must be linux or windows",
		"windows/amd64":             "needs an OS version",
		"windows/amd64/ltsc2023":    "known Windows release",
		"windows/386/ltsc2022":      "amd64 or arm64",
		"linux/arm64/ltsc2022":      "only allowed for linux/amd64",
		"windows/amd64/ltsc2022/v7": "too many fields",
	} {
		_, err := Parse(in)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%q) error = %v, want it to mention %q", in, err, want)
		}
	}
}

func TestSelector(t *testing.T) {
	tests := []struct {
		sel, plat string
		ok        bool
		score     int
	}{
		{"linux", "linux/arm64", true, 1},
		{"linux/arm64", "linux/arm64", true, 2},
		{"linux/arm", "linux/arm/v7", true, 2},
		{"linux/arm/v7", "linux/arm/v7", true, 3},
		{"linux/arm64", "linux/amd64", false, 0},
		{"windows", "windows/amd64/ltsc2022", true, 1},
		{"windows/amd64/ltsc2022", "windows/amd64/ltsc2022", true, 3},
		{"windows/amd64/ltsc2025", "windows/amd64/ltsc2022", false, 0},
		{"linux/amd64", "linux/amd64/ltsc2022", true, 2},
		{"windows", "linux/amd64", false, 0},
	}
	for _, tt := range tests {
		s, err := ParseSelector(tt.sel)
		if err != nil {
			t.Fatalf("ParseSelector(%q): %v", tt.sel, err)
		}
		p, _ := Parse(tt.plat)
		if ok, score := s.Match(p); ok != tt.ok || score != tt.score {
			t.Errorf("%s.Match(%s) = %v, %d; want %v, %d", tt.sel, tt.plat, ok, score, tt.ok, tt.score)
		}
	}
	for _, bad := range []string{"", "macos", "linux/amd64/v7/x/y", "windows/amd64/ltsc1999"} {
		if _, err := ParseSelector(bad); err == nil {
			t.Errorf("ParseSelector(%q): no error", bad)
		}
	}
}
