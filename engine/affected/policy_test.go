package affected_test

import (
	"context"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/affected"
	"github.com/imgraph/imgraph/engine/vcs/vcstest"
)

func bumpAgnhost(v string) map[string]string {
	return map[string]string{"images/agnhost/IMAGE.star": strings.Replace(fixture["images/agnhost/IMAGE.star"], "2.63.0", v, 1)}
}

func TestCheck(t *testing.T) {
	mainGo := map[string]string{"images/agnhost/main.go": "package main // v2\n"}
	childBumped := map[string]string{"images/child/IMAGE.star": strings.Replace(fixture["images/child/IMAGE.star"], "1.0", "1.1", 1)}
	tests := []struct {
		name string
		edit edit
		// want: "kind label file:line" per violation
		want []string
	}{
		{name: "nothing bumped", edit: write(mainGo), want: []string{
			"parent-changed-version-not-bumped //child images/child/IMAGE.star:2:5",
			"version-not-bumped //agnhost images/agnhost/IMAGE.star:4:5",
		}},
		{name: "parent bumped, child not", edit: func(r *vcstest.Repo) { r.Write(mainGo); r.Write(bumpAgnhost("2.63.1")) }, want: []string{
			"parent-changed-version-not-bumped //child images/child/IMAGE.star:2:5",
		}},
		{name: "everything bumped", edit: func(r *vcstest.Repo) { r.Write(mainGo); r.Write(bumpAgnhost("2.64.0")); r.Write(childBumped) }, want: nil},
		{name: "version went backwards", edit: func(r *vcstest.Repo) { r.Write(bumpAgnhost("2.62.9")); r.Write(childBumped) }, want: []string{
			"version-backwards //agnhost images/agnhost/IMAGE.star:4:5",
		}},
		{name: "unorderable versions are only compared for equality", edit: func(r *vcstest.Repo) { r.Write(bumpAgnhost("latest")); r.Write(childBumped) }, want: nil},
		{name: "change outside every context", edit: write(map[string]string{"docs/README.md": "x\n"}), want: nil},
		{name: "version reused by a renamed image with new content", edit: func(r *vcstest.Repo) {
			r.Rename("images/base", "images/base2")
			r.Write(map[string]string{
				"images/base2/Dockerfile":   "FROM scratch\nCOPY . /new/\n",
				"images/agnhost/IMAGE.star": strings.Replace(strings.Replace(fixture["images/agnhost/IMAGE.star"], "//base", "//base2", 1), "2.63.0", "2.64.0", 1),
			})
			r.Write(childBumped)
		}, want: []string{"version-reused //base2 images/base2/IMAGE.star:1:7"}},
		{name: "renamed image, same content and tag", edit: func(r *vcstest.Repo) {
			r.Rename("images/base", "images/base2")
			r.Write(map[string]string{
				"images/agnhost/IMAGE.star": strings.Replace(strings.Replace(fixture["images/agnhost/IMAGE.star"], "//base", "//base2", 1), "2.63.0", "2.64.0", 1),
			})
			r.Write(childBumped)
		}, want: nil},
		{name: "image removed while still used", edit: func(r *vcstest.Repo) { r.Remove("images/agnhost") }, want: []string{
			"removed-image-still-used //child images/child/IMAGE.star:3:5",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r, base, head := setup(t, tc.edit, true)
			cmp := run(t, r, base, head)
			rep, err := affected.Check(cmp.Base, cmp.Head, cmp.Result)
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, v := range rep.Violations {
				got = append(got, fmt.Sprintf("%s %s %s", v.Kind, v.Label, v.Pos()))
				if v.Message == "" || v.Fix == "" {
					t.Errorf("violation without message or fix: %+v", v)
				}
			}
			sort.Strings(got)
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("violations:\n got %q\nwant %q\n%+v", got, tc.want, rep.Violations)
			}
		})
	}
}

func TestCheckNamesRemovedImage(t *testing.T) {
	r, base, head := setup(t, func(r *vcstest.Repo) { r.Remove("images/agnhost") }, true)
	cmp := run(t, r, base, head)
	if cmp.Result != nil {
		t.Fatal("head with a dangling base produced a comparison")
	}
	rep, err := affected.Check(cmp.Base, cmp.Head, cmp.Result)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Violations) != 1 || !strings.Contains(rep.Violations[0].Message, "//agnhost was removed") || !strings.Contains(rep.Violations[0].Message, "//child still uses it as base") {
		t.Errorf("violations = %+v", rep.Violations)
	}
	_ = context.Background
}
