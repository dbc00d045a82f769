package main

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/exec/buildkit"
	"github.com/imgraph/imgraph/engine/exec/docker"
	"github.com/imgraph/imgraph/engine/graph"
	"github.com/imgraph/imgraph/engine/load"
	"github.com/imgraph/imgraph/engine/platform"
)

// route says which builder takes a node.
type route struct {
	why    string // why there is no builder
	name   string // "" = none
	kind   string // "buildkit" or "docker"
	addr   string
	docker docker.Config
}

// routeNodes assigns each node a builder: a docker_builder for its Windows
// release (or one that lists the platform explicitly), else BuildKit for
// Linux. Windows nodes without a builder get none.
func routeNodes(c *cli.Context, ws *load.Workspace, ids []graph.NodeID, local bool) (map[graph.NodeID]route, error) {
	dockers := append([]load.DockerBuilder(nil), ws.DockerBuilders...)
	// REMOTE_DOCKER_URL_<V> alone declares a builder, as the legacy scripts did.
	for _, v := range platform.KnownWindowsReleases() {
		if os.Getenv(docker.EnvHostPrefix+strings.ToUpper(v)) == "" {
			continue
		}
		declared := false
		for _, d := range dockers {
			declared = declared || d.OSVersion == v
		}
		if !declared {
			dockers = append(dockers, load.DockerBuilder{OSVersion: v})
		}
	}
	bkAddr, bkSource := buildkitAddr(c, ws)
	out := map[graph.NodeID]route{}
	for _, id := range ids {
		p := id.Platform
		var r route
		for _, d := range dockers {
			match := p.IsWindows() && d.OSVersion == p.OSVersion
			for _, dp := range d.Platforms {
				match = match || dp == p
			}
			if match {
				cfg := docker.ConfigFor(d, os.Getenv)
				r = route{name: "docker " + cfg.Host, kind: "docker", docker: cfg}
				break
			}
		}
		if r.name == "" && !p.IsWindows() {
			addr := bkAddr
			for _, b := range ws.BuildKits {
				for _, bp := range b.Platforms {
					if bp == p && c.String("buildkit-addr") == "" && os.Getenv("BUILDKIT_HOST") == "" {
						addr = b.Addr
					}
				}
			}
			r = route{name: "buildkit " + addr, kind: "buildkit", addr: addr + "\x00" + bkSource}
		}
		switch {
		case r.kind == "docker" && local:
			r = route{why: "the Docker builder for " + p.String() + " pushes to a registry, and none is configured"}
		case r.name == "":
			r.why = "no builder for " + p.String()
		}
		out[id] = r
	}
	return out, nil
}

// buildkitAddr picks the daemon: --buildkit-addr, $BUILDKIT_HOST, the first
// WORKSPACE.star buildkit(), then the local stack. The source is kept for
// the error message when the daemon is not there.
func buildkitAddr(c *cli.Context, ws *load.Workspace) (string, string) {
	if a := c.String("buildkit-addr"); a != "" {
		return a, "--buildkit-addr"
	}
	if a := os.Getenv("BUILDKIT_HOST"); a != "" {
		return a, "$BUILDKIT_HOST"
	}
	for _, b := range ws.BuildKits {
		if len(b.Platforms) == 0 {
			return b.Addr, "buildkit() at " + b.Pos.String()
		}
	}
	return localStackSocket, "the local stack's default socket"
}

// executors connects lazily, once per daemon, so a no-op build never
// dials anything.
type executors struct {
	routes map[graph.NodeID]route
	mu     sync.Mutex
	conns  map[string]*conn
}

type conn struct {
	once sync.Once
	ex   exec.Executor
	err  error
	cls  func() error
}

func (e *executors) get(ctx context.Context, id graph.NodeID) (exec.Executor, error) {
	r := e.routes[id]
	e.mu.Lock()
	if e.conns == nil {
		e.conns = map[string]*conn{}
	}
	key := r.kind + " " + r.addr + r.docker.Host
	cn, ok := e.conns[key]
	if !ok {
		cn = &conn{}
		e.conns[key] = cn
	}
	e.mu.Unlock()
	cn.once.Do(func() {
		switch r.kind {
		case "buildkit":
			addr, source, _ := strings.Cut(r.addr, "\x00")
			bk, err := buildkit.New(ctx, addr)
			if err != nil {
				cn.err = fmt.Errorf("%v; tried %s (from %s). Start the local stack with `hack/local-stack.sh up`, or point --buildkit-addr / $BUILDKIT_HOST at a running buildkitd", err, addr, source)
				return
			}
			cn.ex, cn.cls = bk, bk.Close
		case "docker":
			d, err := docker.New(ctx, r.docker)
			if err != nil {
				cn.err = err
				return
			}
			cn.ex, cn.cls = d, func() error { return nil }
		}
	})
	if cn.err != nil {
		return nil, cn.err
	}
	if d, ok := cn.ex.(*docker.Executor); ok {
		if err := d.CheckPlatform(id.Platform); err != nil {
			return nil, err
		}
	}
	if bk, ok := cn.ex.(*buildkit.Executor); ok && !bk.Supports(id.Platform) {
		return nil, fmt.Errorf("%s has no worker for %s (QEMU not registered? run hack/local-stack.sh up)", bk.Name(), id.Platform.OCI())
	}
	return cn.ex, nil
}

func (e *executors) close() {
	for _, cn := range e.conns {
		if cn.cls != nil {
			cn.cls()
		}
	}
}
