package docker

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	bkclient "github.com/moby/buildkit/client"
	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/imgraph/imgraph/engine/exec"
)

// tailLines is how much of the daemon's output a failure message quotes.
const tailLines = 20

// Build builds req on the daemon with the classic builder (the only one
// Windows daemons have), tags it req.Ref and, if req.Push, pushes it and
// returns the pushed manifest digest. Without Push the image stays on the
// daemon and Result.Digest is empty.
func (e *Executor) Build(ctx context.Context, req exec.Request) (res exec.Result, err error) {
	pg := newProgress(ctx, req.Status)
	defer pg.close()
	res.Ref = req.Ref

	if err := e.CheckPlatform(req.Platform); err != nil {
		return res, fmt.Errorf("build %s: %w", req.ID, err)
	}
	bv := pg.vertex(fmt.Sprintf("[%s] docker build on %s", req.Platform, e.cfg.Host))
	imageID, err := e.build(ctx, req, pg, bv)
	pg.done(bv, err)
	if err != nil {
		return res, fmt.Errorf("build %s on %s: %w", req.ID, e.cfg.Host, err)
	}
	if !req.Push {
		pg.log(bv, fmt.Sprintf("built %s as %s (not pushed)\n", imageID, req.Ref))
		return res, nil
	}
	pv := pg.vertex(fmt.Sprintf("[%s] docker push %s", req.Platform, req.Ref))
	res.Digest, err = e.push(ctx, req.Ref, pg, pv)
	pg.done(pv, err)
	if err != nil {
		return res, fmt.Errorf("push %s from %s: %w", req.Ref, e.cfg.Host, err)
	}
	return res, nil
}

func (e *Executor) build(ctx context.Context, req exec.Request, pg *progress, v digest.Digest) (string, error) {
	tarball, err := contextTar(ctx, req.ContextDir, req.Dockerfile, req.Extra)
	if err != nil {
		return "", fmt.Errorf("build context: %w", err)
	}
	defer tarball.Close()

	args := make(map[string]*string, len(req.BuildArgs))
	for k, val := range req.BuildArgs {
		args[k] = &val
	}
	opts := client.ImageBuildOptions{
		Tags:        []string{req.Ref},
		Dockerfile:  dockerfileName,
		BuildArgs:   args,
		Labels:      req.Labels,
		NoCache:     req.NoCache,
		Remove:      true,
		ForceRemove: true,
		// BASEIMAGE is pinned by digest, so pulling cannot change it; it
		// refreshes any tag-referenced stage the way BuildKit resolves every
		// FROM against the registry.
		PullParent:  true,
		Version:     build.BuilderV1,
		AuthConfigs: buildAuth(ctx, req),
	}
	if req.Platform.IsWindows() {
		// Windows daemons take no platform; isolation is theirs only.
		if e.cfg.Isolation != "" {
			opts.Isolation = container.Isolation(e.cfg.Isolation)
		}
	} else {
		opts.Platforms = []ocispec.Platform{{OS: req.Platform.OS, Architecture: req.Platform.Arch, Variant: req.Platform.Variant}}
	}
	resp, err := e.cli.ImageBuild(ctx, tarball, opts)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()

	var imageID string
	tail, err := readStream(resp.Body, pg, v, func(aux json.RawMessage) {
		var a struct{ ID string }
		if json.Unmarshal(aux, &a) == nil && a.ID != "" {
			imageID = a.ID
		}
	})
	if err != nil {
		return "", withTail(err, tail)
	}
	if imageID == "" {
		return "", withTail(errors.New("the daemon's build output ended without an image ID"), tail)
	}
	return imageID, nil
}

func (e *Executor) push(ctx context.Context, ref string, pg *progress, v digest.Digest) (string, error) {
	auth, err := registryAuth(ctx, ref)
	if err != nil {
		return "", err
	}
	resp, err := e.cli.ImagePush(ctx, ref, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", err
	}
	defer resp.Close()
	var dgst string
	tail, err := readStream(resp, pg, v, func(aux json.RawMessage) {
		var a struct{ Digest string }
		if json.Unmarshal(aux, &a) == nil && a.Digest != "" {
			dgst = a.Digest
		}
	})
	if err != nil {
		return "", withTail(err, tail)
	}
	if _, perr := digest.Parse(dgst); perr != nil {
		return "", withTail(fmt.Errorf("the daemon's push output carried no manifest digest (%q)", dgst), tail)
	}
	return dgst, nil
}

// readStream decodes the daemon's JSON message stream, forwards it as
// progress, hands aux payloads to onAux, and returns the last lines of
// output and the first error message in the stream.
func readStream(r io.Reader, pg *progress, v digest.Digest, onAux func(json.RawMessage)) ([]string, error) {
	var tail []string
	addTail := func(s string) {
		for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
			if strings.TrimSpace(l) == "" {
				continue
			}
			tail = append(tail, l)
			if len(tail) > tailLines {
				tail = tail[1:]
			}
		}
	}
	dec := json.NewDecoder(r)
	for {
		var m jsonstream.Message
		if err := dec.Decode(&m); err == io.EOF {
			return tail, nil
		} else if err != nil {
			return tail, fmt.Errorf("read daemon output: %w", err)
		}
		switch {
		case m.Error != nil:
			return tail, errors.New(strings.TrimSpace(m.Error.Message))
		case m.Aux != nil:
			onAux(*m.Aux)
		case m.Stream != "":
			pg.log(v, m.Stream)
			addTail(m.Stream)
		case m.Status != "":
			if m.Progress != nil && m.Progress.Total > 0 {
				pg.status(v, m.ID, m.Status, m.Progress.Current, m.Progress.Total)
				continue
			}
			line := m.Status
			if m.ID != "" {
				line = m.ID + ": " + line
			}
			pg.log(v, line+"\n")
			addTail(line)
		}
	}
}

func withTail(err error, tail []string) error {
	if len(tail) == 0 {
		return err
	}
	return fmt.Errorf("%w\nlast %d lines of output:\n  %s", err, len(tail), strings.Join(tail, "\n  "))
}

// registryAuth is the X-Registry-Auth header for ref's registry from the
// docker config / credential helpers; anonymous is "{}".
func registryAuth(ctx context.Context, ref string) (string, error) {
	cfg, err := authFor(ctx, ref)
	if err != nil {
		return "", err
	}
	buf, err := json.Marshal(cfg)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(buf), nil
}

func authFor(ctx context.Context, ref string) (registry.AuthConfig, error) {
	r, err := name.ParseReference(ref)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("reference %q: %w", ref, err)
	}
	a, err := authn.DefaultKeychain.Resolve(r.Context().Registry)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("credentials for %s: %w", r.Context().RegistryStr(), err)
	}
	if a == authn.Anonymous {
		return registry.AuthConfig{}, nil
	}
	c, err := authn.Authorization(ctx, a)
	if err != nil {
		return registry.AuthConfig{}, fmt.Errorf("credentials for %s: %w", r.Context().RegistryStr(), err)
	}
	return registry.AuthConfig{
		Username:      c.Username,
		Password:      c.Password,
		Auth:          c.Auth,
		IdentityToken: c.IdentityToken,
		RegistryToken: c.RegistryToken,
		ServerAddress: r.Context().RegistryStr(),
	}, nil
}

// buildAuth gives the classic builder credentials for pulling BASEIMAGE.
// Best effort: a base that needs none builds without.
func buildAuth(ctx context.Context, req exec.Request) map[string]registry.AuthConfig {
	out := map[string]registry.AuthConfig{}
	for _, ref := range []string{req.BuildArgs["BASEIMAGE"], req.Ref} {
		if ref == "" {
			continue
		}
		c, err := authFor(ctx, ref)
		if err != nil || c == (registry.AuthConfig{}) {
			continue
		}
		out[c.ServerAddress] = c
	}
	return out
}

// progress turns daemon output into BuildKit SolveStatus messages so
// Docker nodes show on the same display as BuildKit nodes.
type progress struct {
	ctx      context.Context
	ch       chan *bkclient.SolveStatus
	vertexes map[digest.Digest]*bkclient.Vertex
	statuses map[string]*bkclient.VertexStatus
}

func newProgress(ctx context.Context, ch chan *bkclient.SolveStatus) *progress {
	return &progress{ctx: ctx, ch: ch, vertexes: map[digest.Digest]*bkclient.Vertex{}, statuses: map[string]*bkclient.VertexStatus{}}
}

func (p *progress) send(st *bkclient.SolveStatus) {
	if p.ch == nil {
		return
	}
	select {
	case p.ch <- st:
	case <-p.ctx.Done():
	}
}

func (p *progress) vertex(name string) digest.Digest {
	now := time.Now()
	v := &bkclient.Vertex{Digest: digest.FromString(fmt.Sprintf("%s %d", name, now.UnixNano())), Name: name, Started: &now}
	p.vertexes[v.Digest] = v
	cp := *v
	p.send(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&cp}})
	return v.Digest
}

func (p *progress) done(d digest.Digest, err error) {
	v := p.vertexes[d]
	now := time.Now()
	v.Completed = &now
	if err != nil {
		v.Error = err.Error()
	}
	var sts []*bkclient.VertexStatus
	for _, s := range p.statuses {
		if s.Vertex == d && s.Completed == nil {
			s.Completed = &now
			cp := *s
			sts = append(sts, &cp)
		}
	}
	cp := *v
	p.send(&bkclient.SolveStatus{Vertexes: []*bkclient.Vertex{&cp}, Statuses: sts})
}

func (p *progress) log(d digest.Digest, s string) {
	if !strings.HasSuffix(s, "\n") {
		s += "\n"
	}
	p.send(&bkclient.SolveStatus{Logs: []*bkclient.VertexLog{{Vertex: d, Stream: 1, Data: []byte(s), Timestamp: time.Now()}}})
}

func (p *progress) status(d digest.Digest, id, name string, current, total int64) {
	now := time.Now()
	key := string(d) + "/" + id
	s, ok := p.statuses[key]
	if !ok {
		s = &bkclient.VertexStatus{ID: id, Vertex: d, Started: &now}
		p.statuses[key] = s
	}
	s.Name, s.Current, s.Total, s.Timestamp = id+" "+name, current, total, now
	cp := *s
	p.send(&bkclient.SolveStatus{Statuses: []*bkclient.VertexStatus{&cp}})
}

func (p *progress) close() {
	if p.ch != nil {
		close(p.ch)
	}
}
