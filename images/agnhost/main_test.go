package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestRunExitCodes(t *testing.T) {
	tests := []struct {
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{args: nil, code: 2, stderr: "usage: agnhost"},
		{args: []string{"help"}, code: 0, stderr: "serve-hostname"},
		{args: []string{"version"}, code: 0, stdout: Version},
		{args: []string{"no-such"}, code: 2, stderr: `unknown subcommand "no-such"`},
		{args: []string{"pause", "extra"}, code: 2, stderr: `unexpected argument "extra"`},
		{args: []string{"serve-hostname", "--tcp"}, code: 2, stderr: "--http cannot be combined"},
		{args: []string{"netexec", "-h"}, code: 0, stderr: "-http-port"},
	}
	for _, tt := range tests {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || !strings.Contains(stdout.String(), tt.stdout) || !strings.Contains(stderr.String(), tt.stderr) {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want %d, stdout containing %q, stderr containing %q",
				tt.args, code, stdout.String(), stderr.String(), tt.code, tt.stdout, tt.stderr)
		}
	}
}

func TestRunPauseExitsZeroOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // as if SIGTERM had arrived
	var stdout bytes.Buffer
	if code := run(ctx, []string{"pause"}, &stdout, &bytes.Buffer{}); code != 0 {
		t.Errorf("pause after SIGTERM exited %d, want 0", code)
	}
}
