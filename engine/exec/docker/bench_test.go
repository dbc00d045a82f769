package docker

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// BenchmarkContextTar streams a 2,000-file context (1 MiB in all) with a
// .dockerignore that drops a quarter of it; bytes/op is the tar size.
func BenchmarkContextTar(b *testing.B) {
	dir := b.TempDir()
	content := strings.Repeat("x", 512)
	for i := 0; i < 2000; i++ {
		ext := ".go"
		if i%4 == 0 {
			ext = ".log"
		}
		p := filepath.Join(dir, fmt.Sprintf("d%02d/f%04d%s", i%50, i, ext))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, ".dockerignore"), []byte("**/*.log\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	df := filepath.Join(dir, "Dockerfile")
	if err := os.WriteFile(df, []byte("FROM scratch\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var n int64
	for i := 0; i < b.N; i++ {
		rc, err := contextTar(context.Background(), dir, df, nil)
		if err != nil {
			b.Fatal(err)
		}
		if n, err = io.Copy(io.Discard, rc); err != nil {
			b.Fatal(err)
		}
		rc.Close()
	}
	b.SetBytes(n)
}
