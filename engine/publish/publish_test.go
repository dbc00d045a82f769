package publish

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/imgraph/imgraph/engine/naming"
	"github.com/imgraph/imgraph/engine/platform"
	"github.com/imgraph/imgraph/engine/registry/regtest"
)

// imagePlatform pairs a declared platform with the config an image for it
// carries (Windows builds report their full os.version).
type imagePlatform struct {
	decl platform.Platform
	cfg  v1.Platform
}

var fivePlatforms = []imagePlatform{
	{platform.Platform{OS: "linux", Arch: "amd64"}, v1.Platform{OS: "linux", Architecture: "amd64"}},
	{platform.Platform{OS: "linux", Arch: "arm64"}, v1.Platform{OS: "linux", Architecture: "arm64"}},
	{platform.Platform{OS: "linux", Arch: "arm", Variant: "v7"}, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}},
	{platform.Platform{OS: "windows", Arch: "amd64", OSVersion: "ltsc2019"}, v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.6414"}},
	{platform.Platform{OS: "windows", Arch: "amd64", OSVersion: "ltsc2022"}, v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.20348.2762"}},
}

func fastOpts(rt *regtest.Counter) Options {
	b := regtest.FastBackoff
	o := Options{Backoff: &b, Keychain: authn.NewMultiKeychain()}
	if rt != nil {
		o.Transport = rt
	}
	return o
}

// pushAll pushes one image per platform under its legacy per-platform tag.
func pushAll(t *testing.T, host, repo string, ps []imagePlatform, oci bool) List {
	t.Helper()
	l := List{Ref: naming.ListRef(host, repo, "1.0")}
	for _, p := range ps {
		ref := naming.PlatformRef(host, repo, "1.0", p.decl)
		d := regtest.Push(t, ref, regtest.Image(t, p.cfg, nil, oci))
		l.Declared = append(l.Declared, p.decl)
		l.Entries = append(l.Entries, Entry{Ref: ref, Digest: d, Platform: p.decl})
	}
	return l
}

func readIndex(t *testing.T, ref string) (string, *v1.IndexManifest) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(r)
	if err != nil {
		t.Fatalf("read back %s: %v", ref, err)
	}
	im, err := v1.ParseIndexManifest(strings.NewReader(string(desc.Manifest)))
	if err != nil {
		t.Fatal(err)
	}
	return desc.Digest.String(), im
}

func TestPublishPlatformsFromConfigs(t *testing.T) {
	for _, tc := range []struct {
		name    string
		oci     bool
		wantMT  types.MediaType
		childMT types.MediaType
	}{
		{"docker children make a docker manifest list", false, types.DockerManifestList, types.DockerManifestSchema2},
		{"oci children make an oci index", true, types.OCIImageIndex, types.OCIManifestSchema1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			host := regtest.Registry(t, nil)
			l := pushAll(t, host, "agnhost", fivePlatforms, tc.oci)
			res, err := Publish(context.Background(), l, fastOpts(nil))
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != StatusWritten || len(res.Missing) != 0 || res.Warning() != "" {
				t.Errorf("result %+v", res)
			}
			digest, im := readIndex(t, l.Ref)
			if digest != res.Digest {
				t.Errorf("registry has %s, Publish reported %s", digest, res.Digest)
			}
			if im.MediaType != tc.wantMT {
				t.Errorf("list media type %s, want %s", im.MediaType, tc.wantMT)
			}
			if len(im.Manifests) != len(fivePlatforms) {
				t.Fatalf("list has %d entries, want %d", len(im.Manifests), len(fivePlatforms))
			}
			for i, m := range im.Manifests {
				want := fivePlatforms[i].cfg
				if m.Platform == nil || !reflect.DeepEqual(*m.Platform, want) {
					t.Errorf("entry %d platform %+v, want %+v", i, m.Platform, want)
				}
				if m.Digest.String() != l.Entries[i].Digest || m.MediaType != tc.childMT {
					t.Errorf("entry %d is %s %s, want %s %s", i, m.MediaType, m.Digest, tc.childMT, l.Entries[i].Digest)
				}
			}
		})
	}
}

func TestPublishUpToDateWritesNothing(t *testing.T) {
	host := regtest.Registry(t, nil)
	l := pushAll(t, host, "pause", fivePlatforms[:2], false)
	first, err := Publish(context.Background(), l, fastOpts(nil))
	if err != nil {
		t.Fatal(err)
	}
	rt := &regtest.Counter{}
	second, err := Publish(context.Background(), l, fastOpts(rt))
	if err != nil {
		t.Fatal(err)
	}
	if second.Status != StatusUpToDate || second.Digest != first.Digest {
		t.Errorf("second publish %+v, want up-to-date %s", second, first.Digest)
	}
	if c := rt.Counts(); c["PUT manifests"] != 0 {
		t.Errorf("up-to-date publish wrote: %v", c)
	}
}

func TestPublishMissingPlatforms(t *testing.T) {
	host := regtest.Registry(t, nil)
	l := pushAll(t, host, "busybox", fivePlatforms, false)
	// An earlier list exists at the ref; a refused publish must keep it.
	prev := List{Ref: l.Ref, Declared: l.Declared[:1], Entries: l.Entries[:1]}
	if _, err := Publish(context.Background(), prev, fastOpts(nil)); err != nil {
		t.Fatal(err)
	}
	prevDigest, _ := readIndex(t, l.Ref)

	// arm64's entry names a digest the registry never saw; ltsc2022 has no entry at all.
	missingArm := l
	missingArm.Entries = append([]Entry(nil), l.Entries[:4]...)
	missingArm.Entries[1].Digest = "sha256:" + strings.Repeat("0", 64)
	wantMissing := []platform.Platform{fivePlatforms[1].decl, fivePlatforms[4].decl}

	rt := &regtest.Counter{}
	_, err := Publish(context.Background(), missingArm, fastOpts(rt))
	var me *MissingError
	if !errors.As(err, &me) {
		t.Fatalf("want a MissingError, got %v", err)
	}
	if !reflect.DeepEqual(me.Missing, wantMissing) {
		t.Errorf("missing %v, want %v", me.Missing, wantMissing)
	}
	for _, s := range []string{"linux/arm64", "windows/amd64/ltsc2022", l.Ref} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not name %s", err, s)
		}
	}
	if c := rt.Counts(); c["PUT manifests"] != 0 {
		t.Errorf("refused publish wrote: %v", c)
	}
	if d, _ := readIndex(t, l.Ref); d != prevDigest {
		t.Errorf("previous list replaced: %s, was %s", d, prevDigest)
	}

	opts := fastOpts(nil)
	opts.AllowMissing = true
	res, err := Publish(context.Background(), missingArm, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(res.Missing, wantMissing) || !strings.Contains(res.Warning(), "linux/arm64, windows/amd64/ltsc2022") {
		t.Errorf("AllowMissing result %+v warning %q", res, res.Warning())
	}
	_, im := readIndex(t, l.Ref)
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.String())
	}
	want := []string{"linux/amd64", "linux/arm/v7", "windows/amd64:10.0.17763.6414"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("published %v, want %v", got, want)
	}
}

func TestPublishFlattensBuildKitIndexes(t *testing.T) {
	host := regtest.Registry(t, nil)
	amd := fivePlatforms[0]
	arm := fivePlatforms[1]
	l := List{Ref: naming.ListRef(host, "etcd", "3.5"), Declared: []platform.Platform{amd.decl, arm.decl}}
	amdImg := regtest.Image(t, amd.cfg, nil, true)
	armImg := regtest.Image(t, arm.cfg, nil, true)
	for _, x := range []struct {
		p   imagePlatform
		img v1.Image
	}{{amd, amdImg}, {arm, armImg}} {
		ref := naming.PlatformRef(host, "etcd", "3.5", x.p.decl)
		// Entry digests are the per-platform index digests BuildKit reports;
		// the arm64 entry leaves it empty, to be resolved from the tag.
		d := regtest.PushWithAttestation(t, ref, x.img, x.p.cfg)
		if x.p.decl.Arch == "arm64" {
			d = ""
		}
		l.Entries = append(l.Entries, Entry{Ref: ref, Digest: d, Platform: x.p.decl})
	}
	if _, err := Publish(context.Background(), l, fastOpts(nil)); err != nil {
		t.Fatal(err)
	}
	_, im := readIndex(t, l.Ref)
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.String()+" "+m.Digest.String())
	}
	ad, _ := amdImg.Digest()
	rd, _ := armImg.Digest()
	want := []string{"linux/amd64 " + ad.String(), "linux/arm64 " + rd.String()}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("list entries %v, want %v (attestations dropped, images by digest)", got, want)
	}
}

func TestPublishRefusesWrongImages(t *testing.T) {
	host := regtest.Registry(t, nil)
	win := platform.Platform{OS: "windows", Arch: "amd64", OSVersion: "ltsc2022"}
	tests := []struct {
		name    string
		decl    platform.Platform
		cfg     v1.Platform
		wantErr string
	}{
		{"amd64 image under the arm64 tag", fivePlatforms[1].decl, v1.Platform{OS: "linux", Architecture: "amd64"}, "config says linux/amd64, expected linux/arm64"},
		{"ltsc2019 image under the ltsc2022 tag", win, v1.Platform{OS: "windows", Architecture: "amd64", OSVersion: "10.0.17763.6414"}, "config says os.version 10.0.17763.6414, expected 10.0.20348.*"},
		{"windows image without os.version", win, v1.Platform{OS: "windows", Architecture: "amd64"}, "no os.version"},
		{"arm v6 image under the v7 tag", fivePlatforms[2].decl, v1.Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "variant v6"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := naming.PlatformRef(host, "wrong", "1", tc.decl)
			d := regtest.Push(t, ref, regtest.Image(t, tc.cfg, nil, false))
			l := List{Ref: naming.ListRef(host, "wrong", "1"), Entries: []Entry{{Ref: ref, Digest: d, Platform: tc.decl}}}
			_, err := Publish(context.Background(), l, fastOpts(nil))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPublishRejectsBadLists(t *testing.T) {
	host := regtest.Registry(t, nil)
	l := pushAll(t, host, "a", fivePlatforms[:2], false)
	tests := []struct {
		name    string
		mutate  func(*List)
		wantErr string
	}{
		{"entry in another repository", func(l *List) { l.Entries[0].Ref = strings.Replace(l.Entries[0].Ref, "/a:", "/b:", 1) }, "another repository"},
		{"undeclared platform", func(l *List) { l.Declared = l.Declared[:1] }, "not a declared platform"},
		{"two entries for one platform", func(l *List) { l.Entries[1].Platform = l.Entries[0].Platform }, "two entries for linux/amd64"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := List{Ref: l.Ref, Declared: append([]platform.Platform(nil), l.Declared...), Entries: append([]Entry(nil), l.Entries...)}
			tc.mutate(&c)
			_, err := Publish(context.Background(), c, fastOpts(nil))
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("got %v, want an error containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestPublishRetriesAndFailures(t *testing.T) {
	for _, tc := range []struct {
		name    string
		fails   int
		wantErr string
	}{
		{"recovers after two 503s", 2, ""},
		{"persistent 500", -1, "kept failing (HTTP 500)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ff := &regtest.FailFirst{Status: 500}
			if tc.fails > 0 {
				ff.Status = 503
			}
			host := regtest.Registry(t, ff.Wrap)
			l := pushAll(t, host, "retry", fivePlatforms[:2], false)
			ff.N = tc.fails
			res, err := Publish(context.Background(), l, fastOpts(nil))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				ff.N = 0
				if d, _ := readIndex(t, l.Ref); d != res.Digest {
					t.Errorf("registry has %s, want %s", d, res.Digest)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.Contains(err.Error(), host) {
				t.Fatalf("got %v, want an error naming %s and containing %q", err, host, tc.wantErr)
			}
		})
	}
}

func TestPublishAuth(t *testing.T) {
	const user, password = "pusher", "publish-Secret-77"
	host := regtest.Registry(t, regtest.BasicAuth(user, password))
	p := fivePlatforms[0]
	ref := naming.PlatformRef(host, "private", "1", p.decl)
	d := regtest.Push(t, ref, regtest.Image(t, p.cfg, nil, false), remote.WithAuth(&authn.Basic{Username: user, Password: password}))
	l := List{Ref: naming.ListRef(host, "private", "1"), Entries: []Entry{{Ref: ref, Digest: d, Platform: p.decl}}}

	for _, tc := range []struct {
		name, pw string
		wantErr  bool
	}{{"right password", password, false}, {"wrong password", "Not-The-Password-1", true}} {
		t.Run(tc.name, func(t *testing.T) {
			kc := staticKeychain{authn.FromConfig(authn.AuthConfig{Username: user, Password: tc.pw})}
			o := fastOpts(nil)
			o.Keychain = kc
			_, err := Publish(context.Background(), l, o)
			if !tc.wantErr {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "docker login "+host) {
				t.Fatalf("got %v, want an authentication error naming %s", err, host)
			}
			for _, secret := range []string{password, tc.pw} {
				if strings.Contains(err.Error(), secret) {
					t.Errorf("error reveals a credential: %v", err)
				}
			}
		})
	}
}

type staticKeychain struct{ a authn.Authenticator }

func (k staticKeychain) Resolve(authn.Resource) (authn.Authenticator, error) { return k.a, nil }

// The Windows-helper shape: two linux/amd64 images for two Windows
// releases share one list, told apart by os.version.
func TestPublishWindowsHelperShape(t *testing.T) {
	host := regtest.Registry(t, nil)
	ps := []imagePlatform{
		{platform.Platform{OS: "linux", Arch: "amd64", OSVersion: "ltsc2022"}, v1.Platform{OS: "linux", Architecture: "amd64"}},
		{platform.Platform{OS: "linux", Arch: "amd64", OSVersion: "ltsc2025"}, v1.Platform{OS: "linux", Architecture: "amd64"}},
	}
	l := pushAll(t, host, "windows-servercore-cache", ps, false)
	if _, err := Publish(context.Background(), l, fastOpts(nil)); err != nil {
		t.Fatal(err)
	}
	_, im := readIndex(t, l.Ref)
	var got []string
	for _, m := range im.Manifests {
		got = append(got, m.Platform.OS+"/"+m.Platform.Architecture+" "+m.Platform.OSVersion)
	}
	if want := []string{"linux/amd64 10.0.20348", "linux/amd64 10.0.26100"}; !reflect.DeepEqual(got, want) {
		t.Errorf("entries %v, want %v", got, want)
	}
}
