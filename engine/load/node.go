package load

import (
	"fmt"
	"path"
	"strings"

	"github.com/imgraph/imgraph/engine/platform"
)

// Node resolves the declaration of img for one platform: Windows overrides
// applied (base and dockerfile replace, build_args and image_args merge with
// the Windows keys winning), paths made workspace-relative and image_args
// platform templates filled in.
func (img *Image) Node(p platform.Platform) (Node, error) {
	n := Node{
		Label:      img.Label,
		Platform:   p.String(),
		Version:    img.Version,
		Repository: img.Repository,
		Dockerfile: path.Join(img.Dir, img.Dockerfile),
		Context:    path.Join(img.Dir, img.Context),
		BuildArgs:  copyMap(img.BuildArgs),
		Labels:     copyMap(img.Labels),
		Prebuild:   img.Prebuild,
	}
	spec := img.Base
	imageArgs := map[string]ImageArg{}
	for k, v := range img.ImageArgs {
		imageArgs[k] = v
	}
	if p.IsWindows() && img.Windows != nil {
		w := img.Windows
		if w.Base.Declared() {
			spec = w.Base
		}
		if w.Dockerfile != "" {
			n.Dockerfile = path.Join(img.Dir, w.Dockerfile)
		}
		for k, v := range w.BuildArgs {
			if n.BuildArgs == nil {
				n.BuildArgs = map[string]string{}
			}
			n.BuildArgs[k] = v
		}
		for k, v := range w.ImageArgs {
			imageArgs[k] = v
		}
	}
	b, ok := spec.Resolve(p)
	if !ok {
		return Node{}, Errorf(spec.Pos, "no base declared for platform %s", p)
	}
	n.Base = b
	if len(imageArgs) > 0 {
		n.ImageArgs = map[string]ImageArg{}
		for k, v := range imageArgs {
			if v.PlatformTemplate != "" {
				s := strings.NewReplacer("{os_version}", p.OSVersion, "{os}", p.OS, "{arch}", p.Arch).Replace(v.PlatformTemplate)
				tp, err := platform.Parse(s)
				if err != nil {
					return Node{}, Errorf(v.Pos, "image_args %q for %s: platform %q: %v", k, p, s, err)
				}
				v.PlatformTemplate = tp.String()
			}
			n.ImageArgs[k] = v
		}
	}
	return n, nil
}

// TargetPlatform is the platform an image_args entry refers to for node
// platform p.
func (a ImageArg) TargetPlatform(p platform.Platform) (platform.Platform, error) {
	if a.PlatformTemplate == "" {
		return p, nil
	}
	s := strings.NewReplacer("{os_version}", p.OSVersion, "{os}", p.OS, "{arch}", p.Arch).Replace(a.PlatformTemplate)
	tp, err := platform.Parse(s)
	if err != nil {
		return platform.Platform{}, fmt.Errorf("platform %q: %v", s, err)
	}
	return tp, nil
}

func copyMap(m map[string]string) map[string]string {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
