package main

import (
	"bytes"
	"errors"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles imgraph into dir: signals need a process of its own.
func buildBinary(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "imgraph")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// Ctrl-C during a build: the client stops at once, reports the build as
// interrupted, publishes nothing for unfinished images, and BuildKit (the
// shared stack daemon, which must survive this) ends the RUN step it was
// running. A rerun then finishes the work.
func TestBuildInterrupted(t *testing.T) {
	reg := stackEnv(t)
	bin := buildBinary(t, t.TempDir())
	token := "imgraph-interrupt-" + filepath.Base(reg)
	ws := slowChainWorkspace(t, token, 60)
	args := []string{"--workspace", ws, "--registry", reg, "build", "--push", "--progress", "plain", "--output", "json"}

	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			<-exited
		}
		// Should the daemon not cancel the step, do not leave it running.
		if pid := processWith(token); pid != 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})

	// Interrupt once A is pushed and B's RUN step is running.
	deadline := time.Now().Add(90 * time.Second)
	for processWith(token) == 0 || headDigest(t, reg+"/a:1.0-linux-amd64") == "" {
		if time.Now().After(deadline) {
			t.Fatalf("B's RUN step never started or A was never pushed\n%s", stderr.String())
		}
		select {
		case err := <-exited:
			t.Fatalf("build ended before the interrupt: %v\n%s\n%s", err, stdout.String(), stderr.String())
		case <-time.After(200 * time.Millisecond):
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	var err error
	select {
	case err = <-exited:
	case <-time.After(10 * time.Second):
		t.Fatalf("imgraph still running 10s after SIGINT\n%s", stderr.String())
	}
	t.Logf("exited %.1fs after SIGINT", time.Since(sent).Seconds())
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 {
		t.Fatalf("exit: %v, want status 1\n%s\n%s", err, stdout.String(), stderr.String())
	}
	if !strings.Contains(stderr.String(), "build interrupted") {
		t.Errorf("stderr does not say the build was interrupted:\n%s", stderr.String())
	}
	noTrace(t, "stderr", stderr.String())
	s := parseFaultSummary(t, stdout.String())
	if st, _, _, _ := s.node(t, "//a@linux/amd64"); st != "built" {
		t.Errorf("A is %q, want built", st)
	}
	if st, _, _, _ := s.node(t, "//b@linux/amd64"); st != "cancelled" {
		t.Errorf("B is %q, want cancelled", st)
	}
	if st, _, _, _ := s.node(t, "//c@linux/amd64"); st != "cancelled" && st != "skipped" {
		t.Errorf("C is %q, want cancelled or skipped", st)
	}
	for _, img := range []string{"b", "c"} {
		if d := headDigest(t, reg+"/"+img+":1.0"); d != "" {
			t.Errorf("manifest list %s:1.0 was written (%s) although the build was interrupted", img, d)
		}
	}

	// Cleanly: the daemon ends the RUN step when the client goes away.
	gone := time.Now().Add(15 * time.Second)
	for processWith(token) != 0 {
		if time.Now().After(gone) {
			t.Fatalf("B's RUN step still runs in buildkitd 15s after the interrupt")
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("RUN step gone %.1fs after SIGINT", time.Since(sent).Seconds())

	// B made quick: A is up to date, B and C build and are published.
	writeFiles(t, ws, map[string]string{"images/b/Dockerfile": slowDockerfile(token, 1)})
	args[len(args)-3] = "quiet"
	out, errOut, code := runCLI(t, args...)
	if code != 0 {
		t.Fatalf("rerun: exit %d\n%s\n%s", code, out, errOut)
	}
	s = parseFaultSummary(t, out)
	for id, want := range map[string]string{"//a@linux/amd64": "up to date", "//b@linux/amd64": "built", "//c@linux/amd64": "built"} {
		if st, _, _, _ := s.node(t, id); st != want {
			t.Errorf("rerun: %s is %q, want %q", id, st, want)
		}
	}
	for _, img := range []string{"a", "b", "c"} {
		if headDigest(t, reg+"/"+img+":1.0") == "" {
			t.Errorf("rerun: no manifest list %s:1.0", img)
		}
	}
}
