package pause

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/imgraph/imgraph/images/agnhost/internal/cmdutil"
)

func TestMainBlocksUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var out bytes.Buffer
	done := make(chan error, 1)
	go func() { done <- Main(ctx, nil, &out, &bytes.Buffer{}) }()

	select {
	case err := <-done:
		t.Fatalf("Main returned before cancellation: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Main after cancellation = %v, want nil (exit 0)", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Main did not return after cancellation")
	}
	if !strings.Contains(out.String(), "signal received") {
		t.Errorf("stdout = %q, want a line about the signal", out.String())
	}
}

func TestMainRejectsArguments(t *testing.T) {
	for _, args := range [][]string{{"extra"}, {"--port=1"}} {
		err := Main(context.Background(), args, &bytes.Buffer{}, &bytes.Buffer{})
		var ue *cmdutil.UsageError
		if !errors.As(err, &ue) {
			t.Errorf("Main(%q) = %v, want a usage error", args, err)
		}
	}
}
