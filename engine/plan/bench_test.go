package plan

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/imgraph/imgraph/engine/platform"
	"github.com/imgraph/imgraph/engine/registry/regtest"
)

// BenchmarkPlan plans 100 up-to-date nodes (20 repositories × 5
// platforms) against an in-process registry, with a full lookup (manifest
// + config per node) and with the local record (one HEAD per node).
func BenchmarkPlan(b *testing.B) {
	host := regtest.Registry(b, nil)
	ps := []platform.Platform{linuxAMD64, linuxARM64, {OS: "linux", Arch: "arm", Variant: "v7"}, {OS: "linux", Arch: "ppc64le"}, {OS: "linux", Arch: "s390x"}}
	var nodes []Node
	for i := range 20 {
		for j, p := range ps {
			n := node(host, fmt.Sprintf("img%d", i), p, fmt.Sprintf("sha256:%064d", i*10+j))
			cfg := v1.Platform{OS: p.OS, Architecture: p.Arch, Variant: p.Variant}
			regtest.Push(b, n.Ref, regtest.Image(b, cfg, labels(string(n.Digest)), false))
			nodes = append(nodes, n)
		}
	}
	for _, withRecord := range []bool{false, true} {
		b.Run(fmt.Sprintf("record=%v", withRecord), func(b *testing.B) {
			opts := fastOpts(nil)
			if withRecord {
				opts.CacheFile = filepath.Join(b.TempDir(), "record.json")
				if _, err := Plan(context.Background(), nodes, opts); err != nil {
					b.Fatal(err)
				}
			}
			b.ResetTimer()
			for b.Loop() {
				ds, err := Plan(context.Background(), nodes, opts)
				if err != nil {
					b.Fatal(err)
				}
				if ds[0].Status != StatusUpToDate {
					b.Fatal(ds[0])
				}
			}
		})
	}
}
