// Command synth writes a synthetic imgraph workspace for benchmarks:
//
//	go run ./hack/synth -out DIR -images 1000 -files 50000
package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/imgraph/imgraph/internal/synth"
)

func main() {
	out := flag.String("out", "", "directory to write the workspace into (required)")
	images := flag.Int("images", 1000, "number of images")
	files := flag.Int("files", 50000, "total context files over all images")
	size := flag.Int("file-size", 1024, "mean context file size in bytes")
	depth := flag.Int("depth", 6, "longest chain of in-tree bases")
	fanout := flag.Int("fanout", 4, "images built directly on each parent")
	platforms := flag.String("platforms", "", "comma-separated Linux platforms (default: the five legacy ones)")
	seed := flag.Int64("seed", 1, "seed for file contents")
	flag.Parse()
	if *out == "" || *images < 1 {
		flag.Usage()
		os.Exit(2)
	}
	cfg := synth.Config{
		Images:        *images,
		FilesPerImage: *files / *images,
		FileSize:      *size,
		Depth:         *depth,
		FanOut:        *fanout,
		Seed:          *seed,
	}
	if *platforms != "" {
		cfg.Platforms = strings.Split(*platforms, ",")
	}
	if err := synth.Generate(*out, cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
