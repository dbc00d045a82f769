// Package buildkit builds Linux nodes through a BuildKit daemon with the
// Dockerfile frontend and pushes them to the registry.
package buildkit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/containerd/containerd/v2/core/content"
	"github.com/docker/cli/cli/config"
	"github.com/docker/cli/cli/config/configfile"
	"github.com/docker/cli/cli/config/credentials"
	"github.com/moby/buildkit/client"
	"github.com/moby/buildkit/session"
	"github.com/moby/buildkit/session/auth/authprovider"
	"github.com/tonistiigi/fsutil"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/platform"
)

// layoutStoreID names the local OCI layout among a solve's OCI stores.
const layoutStoreID = "imgraph"

// Executor builds nodes on one buildkitd.
type Executor struct {
	addr      string
	c         *client.Client
	platforms map[string]bool // OCI platform strings the workers support
}

// New connects to addr and lists its workers, so a daemon that is not
// there fails now with one clear line rather than in the middle of a build.
func New(ctx context.Context, addr string) (*Executor, error) {
	c, err := client.New(ctx, addr)
	if err != nil {
		return nil, fmt.Errorf("connect to buildkitd at %s: %w", addr, err)
	}
	lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	workers, err := c.ListWorkers(lctx)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("buildkitd at %s is not answering (%s)", addr, firstLine(err))
	}
	e := &Executor{addr: addr, c: c, platforms: map[string]bool{}}
	for _, w := range workers {
		for _, p := range w.Platforms {
			s := p.OS + "/" + p.Architecture
			if p.Variant != "" {
				e.platforms[s+"/"+p.Variant] = true
			}
			e.platforms[s] = true
		}
	}
	return e, nil
}

func firstLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

// Close releases the connection.
func (e *Executor) Close() error { return e.c.Close() }

// Name implements exec.Executor.
func (e *Executor) Name() string { return "buildkit " + e.addr }

// Supports reports whether a worker can build p (natively or through QEMU).
func (e *Executor) Supports(p platform.Platform) bool {
	return !p.IsWindows() && e.platforms[p.OCI()]
}

// sourceDateEpoch pins timestamps so identical inputs give identical digests.
func sourceDateEpoch() string {
	if v := os.Getenv("SOURCE_DATE_EPOCH"); v != "" {
		return v
	}
	return "0"
}

// Build implements exec.Executor.
func (e *Executor) Build(ctx context.Context, req exec.Request) (exec.Result, error) {
	status := req.Status
	if status == nil {
		status = make(chan *client.SolveStatus)
		go func() {
			for range status {
			}
		}()
	}
	ctxFS, err := fsutil.NewFS(req.ContextDir)
	if err != nil {
		close(status)
		return exec.Result{}, fmt.Errorf("open context %s: %w", req.ContextDir, err)
	}
	ctxFS, err = newOverlay(ctxFS, req.Extra)
	if err != nil {
		close(status)
		return exec.Result{}, err
	}
	dfFS, err := fsutil.NewFS(filepath.Dir(req.Dockerfile))
	if err != nil {
		close(status)
		return exec.Result{}, fmt.Errorf("open dockerfile dir: %w", err)
	}
	attrs := map[string]string{
		"filename":                             filepath.Base(req.Dockerfile),
		"platform":                             req.Platform.OCI(),
		"build-arg:SOURCE_DATE_EPOCH":          sourceDateEpoch(),
		"build-arg:BUILDKIT_SBOM_SCAN_CONTEXT": "false",
	}
	keys := make([]string, 0, len(req.BuildArgs))
	for k := range req.BuildArgs {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		attrs["build-arg:"+k] = req.BuildArgs[k]
	}
	for k, v := range req.Labels {
		attrs["label:"+k] = v
	}
	if req.NoCache {
		attrs["no-cache"] = ""
	}
	// Attestations are off unless asked for: the legacy tooling expects a
	// plain image manifest under every per-platform tag.
	if req.Provenance {
		attrs["attest:provenance"] = "mode=min"
	}
	export := client.ExportEntry{
		Type: client.ExporterImage,
		Attrs: map[string]string{
			"name":              req.Ref,
			"push":              fmt.Sprint(req.Push),
			"rewrite-timestamp": "true",
			// Docker media types, as the legacy images and tooling expect;
			// attestations exist only in OCI indexes.
			"oci-mediatypes": fmt.Sprint(req.Provenance),
			"unpack":         "false",
		},
	}
	var store *layoutStore
	if req.Layout != "" {
		if store, err = openLayout(req.Layout); err != nil {
			close(status)
			return exec.Result{}, err
		}
		// OutputStore rather than OutputDir: the client would rewrite
		// index.json itself with a try-lock that parallel solves collide on.
		export = client.ExportEntry{Type: client.ExporterOCI, OutputStore: store.store, Attrs: map[string]string{
			"name": req.Ref, "tar": "false", "rewrite-timestamp": "true", "oci-mediatypes": "true",
		}}
		for name, dgst := range req.Contexts {
			attrs["context:"+name] = "oci-layout://" + layoutStoreID + "@" + dgst
		}
	}
	dockerCfg, err := dockerConfig()
	if err != nil {
		close(status)
		return exec.Result{}, err
	}
	opt := client.SolveOpt{
		Frontend:      "dockerfile.v0",
		FrontendAttrs: attrs,
		LocalMounts:   map[string]fsutil.FS{"context": ctxFS, "dockerfile": dfFS},
		Exports:       []client.ExportEntry{export},
		Session: []session.Attachable{authprovider.NewDockerAuthProvider(authprovider.DockerAuthProviderConfig{
			AuthConfigProvider: authprovider.LoadAuthConfig(dockerCfg),
		})},
	}
	if store != nil {
		opt.OCIStores = map[string]content.Store{layoutStoreID: store.store}
	}
	resp, err := e.c.Solve(ctx, nil, opt, status)
	if err != nil {
		if errors.Is(ctx.Err(), context.Canceled) {
			return exec.Result{}, fmt.Errorf("build %s: cancelled", req.ID)
		}
		if grpcstatus.Code(err) == codes.Unavailable {
			// The daemon died or restarted mid-solve: say so rather than
			// show gRPC's transport message alone.
			return exec.Result{}, fmt.Errorf("build %s: lost the connection to buildkitd at %s during the build (daemon stopped or restarted?); run the build again once it is up: %s",
				req.ID, e.addr, cleanSolveErr(err))
		}
		return exec.Result{}, fmt.Errorf("build %s on %s: %s", req.ID, e.Name(), cleanSolveErr(err))
	}
	dgst := resp.ExporterResponse["containerimage.digest"]
	if dgst == "" {
		return exec.Result{}, fmt.Errorf("build %s: buildkitd returned no image digest", req.ID)
	}
	if store != nil {
		if err := store.tag(req.Ref, resp.ExporterResponse["containerimage.descriptor"]); err != nil {
			return exec.Result{}, fmt.Errorf("build %s: %w", req.ID, err)
		}
	}
	return exec.Result{Digest: dgst, Ref: req.Ref}, nil
}

// dockerConfig reads the docker config from $DOCKER_CONFIG as it is now.
// config.LoadDefaultConfigFile uses config.Dir(), which docker/cli fixes
// on first use, so a later $DOCKER_CONFIG (set by an embedding program or
// a test) would be ignored by BuildKit's pushes while go-containerregistry's
// keychain, which reads the variable on every lookup, honours it.
func dockerConfig() (*configfile.ConfigFile, error) {
	cfg, err := config.Load(os.Getenv(config.EnvOverrideConfigDir))
	if err != nil {
		return nil, fmt.Errorf("registry credentials: %w", err)
	}
	if !cfg.ContainsAuth() {
		cfg.CredentialsStore = credentials.DetectDefaultStore(cfg.CredentialsStore)
	}
	return cfg, nil
}

// cleanSolveErr keeps BuildKit's message but drops gRPC noise and stack
// traces, which say nothing to a user.
func cleanSolveErr(err error) string {
	s := err.Error()
	s = strings.TrimPrefix(s, "rpc error: code = Unknown desc = ")
	if i := strings.Index(s, "\ngoroutine "); i >= 0 {
		s = s[:i]
	}
	return s
}
