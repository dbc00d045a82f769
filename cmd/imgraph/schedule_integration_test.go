package main

import (
	"strings"
	"testing"
)

// TestBuildSkipsDependantsOfUnbuildableNodes: a Linux image whose
// image_args name a Windows node that no builder can build is skipped, not
// built against a tag that was never pushed.
func TestBuildSkipsDependantsOfUnbuildableNodes(t *testing.T) {
	reg := stackEnv(t)
	ws := t.TempDir()
	writeFiles(t, ws, map[string]string{
		"WORKSPACE.star": `workspace(platforms = ["linux/amd64"])` + "\n",
		"images/win/IMAGE.star": `image(
    version = "1.0",
    windows = windows(os_versions = ["ltsc2022"]),
)
`,
		"images/win/Dockerfile": "FROM scratch\nCOPY f /f\n",
		"images/win/f":          "win\n",
		"images/tool/IMAGE.star": `image(
    version = "1.0",
    image_args = {"W": image_ref("//win", platform = "windows/amd64/ltsc2022")},
)
`,
		"images/tool/Dockerfile":  "ARG W\nFROM scratch\nCOPY f /f\n",
		"images/tool/f":           "tool\n",
		"images/other/IMAGE.star": `image(version = "1.0")` + "\n",
		"images/other/Dockerfile": "FROM scratch\nCOPY f /f\n",
		"images/other/f":          "other\n",
	})
	out, errOut, code := runCLI(t, "--workspace", ws, "--registry", reg, "build", "//tool", "//other", "--progress", "quiet", "--output", "json")
	if code != 0 {
		t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
	}
	s := parseFaultSummary(t, out)
	if st, reason, _, _ := s.node(t, "//win@windows/amd64/ltsc2022"); st != "not built" || !strings.Contains(reason, "no builder") {
		t.Errorf("//win@windows/amd64/ltsc2022: %q (%s), want not built: no builder", st, reason)
	}
	if st, reason, _, _ := s.node(t, "//tool@linux/amd64"); st != "skipped" || !strings.Contains(reason, "//win@windows/amd64/ltsc2022 not built") {
		t.Errorf("//tool@linux/amd64: %q (%s), want skipped because //win@windows/amd64/ltsc2022 was not built", st, reason)
	}
	if d := headDigest(t, reg+"/tool:1.0-linux-amd64"); d != "" {
		t.Errorf("tool was pushed (%s) although its image_args parent was not built", d)
	}
	if st, _, _, _ := s.node(t, "//other@linux/amd64"); st != "built" {
		t.Errorf("//other@linux/amd64: %q, want built", st)
	}
}
