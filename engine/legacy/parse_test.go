package legacy

import (
	"strings"
	"testing"

	"github.com/imgraph/imgraph/engine/platform"
)

func TestParseBaseImage(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		keys    []string
		wantErr string // substring; "" means success
	}{
		{"missing final newline", "linux/amd64=a\nlinux/arm64=b", []string{"linux/amd64", "linux/arm64"}, ""},
		{"helper keys", "linux/amd64/1809=x\nlinux/amd64/ltsc2022=y\n", []string{"linux/amd64/1809", "linux/amd64/ltsc2022"}, ""},
		{"windows", "windows/amd64/ltsc2025=x\n", []string{"windows/amd64/ltsc2025"}, ""},
		{"blank lines", "\nlinux/amd64=a\n\n", []string{"linux/amd64"}, ""},
		{"arch-only key", "linux/amd64=a\narm64=b\n", nil, "f:2: arch-only key \"arm64\""},
		{"duplicate", "linux/amd64=a\nlinux/amd64=b\n", nil, "f:2: linux/amd64 listed twice (first on line 1)"},
		{"no value", "linux/amd64=\n", nil, "f:1: linux/amd64 has no image"},
		{"unknown os version", "windows/amd64/2030=x\n", nil, "f:1: "},
		{"no equals", "linux/amd64\n", nil, "f:1: "},
		{"empty", "\n", nil, "no os/arch=IMAGE line"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseBaseImage("f", []byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var keys []string
			for _, e := range got {
				keys = append(keys, e.Key)
			}
			if strings.Join(keys, " ") != strings.Join(tt.keys, " ") {
				t.Errorf("keys = %v, want %v", keys, tt.keys)
			}
		})
	}
}

func TestParseRegistryRef(t *testing.T) {
	tests := []struct {
		in                    string
		repo, version, suffix string
	}{
		{"agnhost:2.63.0-linux-amd64", "agnhost", "2.63.0", "linux-amd64"},
		{"busybox:1.37.0-2-linux-arm-v7", "busybox", "1.37.0-2", "linux-arm-v7"},
		{"windows-servercore-cache:1.0-linux-amd64-$OS_VERSION", "windows-servercore-cache", "1.0", "linux-amd64-$OS_VERSION"},
		{"agnhost:2.63.0-windows-amd64-ltsc2022", "agnhost", "2.63.0", "windows-amd64-ltsc2022"},
		{"agnhost:2.63.0", "agnhost", "2.63.0", ""},
		{"volume/nfs:1.4-linux-s390x", "volume/nfs", "1.4", "linux-s390x"},
	}
	for _, tt := range tests {
		r := parseRegistryRef(tt.in)
		if r.Repo != tt.repo || r.Version != tt.version || r.Suffix != tt.suffix {
			t.Errorf("parseRegistryRef(%q) = %+v, want %s %s %s", tt.in, r, tt.repo, tt.version, tt.suffix)
		}
	}
}

func TestPlatformTemplate(t *testing.T) {
	tests := []struct{ in, want string }{
		{"linux-amd64-$OS_VERSION", "linux/amd64/{os_version}"},
		{"linux-amd64-${OS_VERSION}", "linux/amd64/{os_version}"},
		{"linux-arm-v7", "linux/arm/v7"},
		{"linux-$ARCH", ""},
		{"banana", ""},
	}
	for _, tt := range tests {
		got, ok := platformTemplate(tt.in)
		if got != tt.want || ok != (tt.want != "") {
			t.Errorf("platformTemplate(%q) = %q, %v; want %q", tt.in, got, ok, tt.want)
		}
	}
}

func TestCollapseHub(t *testing.T) {
	tests := []struct{ plat, in, want string }{
		{"linux/arm64", "arm64v8/alpine:3.21", "alpine:3.21"},
		{"linux/ppc64le", "ppc64le/alpine:3.21", "alpine:3.21"},
		{"linux/arm", "arm32v7/alpine:3.21", "alpine:3.21"},
		{"linux/arm", "arm32v6/alpine:3.21", "arm32v6/alpine:3.21"},   // a plain name resolves to v7 on linux/arm
		{"linux/amd64", "arm64v8/alpine:3.21", "arm64v8/alpine:3.21"}, // wrong arch: keep
		{"linux/arm64", "arm64v8/alpine@sha256:abc", "arm64v8/alpine@sha256:abc"},
		{"linux/s390x", "s390x/foo/bar:1", "s390x/foo/bar:1"},
	}
	for _, tt := range tests {
		p, _ := platform.Parse(tt.plat)
		if got := collapseHub(p, tt.in); got != tt.want {
			t.Errorf("collapseHub(%s, %q) = %q, want %q", tt.plat, tt.in, got, tt.want)
		}
	}
}

func TestParseMakefile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    string // go_binary list rendered "pkg>out[ldflags]"
		wantErr string
	}{
		{"image-util", "SRCS = agnhost\nbin:\n\t../image-util.sh bin $(SRCS)\n.PHONY: bin\n", ".>agnhost[-w]", ""},
		{"image-util several", "SRCS := a cmd/b\nbin:\n\t@../../image-util.sh bin ${SRCS}\n", ".>a[-w] ./cmd>cmd/b[-w]", ""},
		{"go build", "bin:\n\tCGO_ENABLED=0 GOOS=$(OS) GOARCH=$(ARCH) go build -a -installsuffix cgo --ldflags '-w' -o $(TARGET)/x ./cmd/x\n", "./cmd/x>x[-w]", ""},
		{"go build continued", "TARGET ?= $(CURDIR)\nbin:\n\tCGO_ENABLED=0 GOOS=$(OS) GOARCH=$(ARCH) go build \\\n\t\t-o $(TARGET)/x .\n", ".>x[]", ""},
		{"no bin", "all:\n\techo\n", "", "no bin target"},
		{"prerequisites", "bin: foo\n\t../image-util.sh bin x\n", "", "prerequisites"},
		{"two commands", "bin:\n\tcp a $(TARGET)/\n\tgo build -o $(TARGET)/x .\n", "", "2 commands"},
		{"tags", "bin:\n\tgo build -tags netgo -o $(TARGET)/x .\n", "", "-tags"},
		{"cgo", "bin:\n\tCGO_ENABLED=1 go build -o $(TARGET)/x .\n", "", "CGO_ENABLED=1"},
		{"output elsewhere", "bin:\n\tgo build -o /tmp/x .\n", "", "does not write into $(TARGET)"},
		{"file argument", "bin:\n\tgo build -o $(TARGET)/x ./x.go\n", "", "package directory"},
		{"not go", "bin:\n\tdocker run foo\n", "", "not go build"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseMakefile([]byte(tt.in))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q (got %v)", err, tt.wantErr, got)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var parts []string
			for _, g := range got {
				parts = append(parts, g.Package+">"+g.Out+"["+g.Ldflags+"]")
			}
			if s := strings.Join(parts, " "); s != tt.want {
				t.Errorf("got %s, want %s", s, tt.want)
			}
		})
	}
}

func TestRewriteDockerfile(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		froms   map[int]string
		want    string
		review  []int // lines reported as needing review
		changed bool
	}{
		{
			name: "multi-stage BASEARCH gets ARG per stage",
			in:   "FROM a AS one\nRUN echo BASEARCH\nFROM b\nCOPY --from=one /x /BASEARCH/x\n",
			want: "FROM a AS one\nARG TARGETARCH\nRUN echo ${TARGETARCH}\nFROM b\nARG TARGETARCH\nCOPY --from=one /x /${TARGETARCH}/x\n", changed: true,
		},
		{
			name: "stage already declares TARGETARCH",
			in:   "FROM a\nARG TARGETARCH\nRUN echo BASEARCH",
			want: "FROM a\nARG TARGETARCH\nRUN echo ${TARGETARCH}", changed: true,
		},
		{
			name: "FROM line needs no ARG",
			in:   "FROM BASEARCH/busybox\n",
			want: "FROM ${TARGETARCH}/busybox\n", changed: true,
		},
		{
			name: "continuation FROM inserts after the instruction",
			in:   "FROM a\nRUN x && \\\n  echo BASEARCH\n",
			want: "FROM a\nARG TARGETARCH\nRUN x && \\\n  echo ${TARGETARCH}\n", changed: true,
		},
		{
			name:   "exec-form and global BASEARCH are reported, not rewritten",
			in:     "ARG X=BASEARCH\nFROM a\nENTRYPOINT [\"/BASEARCH\"]\nRUN [\"/bin/BASEARCH\"]\n",
			want:   "ARG X=BASEARCH\nFROM a\nENTRYPOINT [\"/BASEARCH\"]\nRUN [\"/bin/BASEARCH\"]\n",
			review: []int{1, 3, 4},
		},
		{
			name:   "CROSS_BUILD qemu copy deleted, other CROSS_BUILD reviewed",
			in:     "FROM a\nCROSS_BUILD_COPY qemu-QEMUARCH-static /usr/bin/\nCROSS_BUILD_RUN echo hi\n",
			want:   "FROM a\nCROSS_BUILD_RUN echo hi\n",
			review: []int{3}, changed: true,
		},
		{
			name:  "registry FROM replaced, ARG before first FROM, CRLF kept",
			in:    "ARG REGISTRY\r\nFROM $REGISTRY/helper:1.0-linux-amd64-$OS_VERSION as helper\r\nFROM b\r\n",
			froms: map[int]string{2: "HELPER_IMAGE"},
			want:  "ARG REGISTRY\r\nARG HELPER_IMAGE\r\nFROM $HELPER_IMAGE as helper\r\nFROM b\r\n", changed: true,
		},
		{
			name: "nothing to do",
			in:   "FROM a\nRUN true\n",
			want: "FROM a\nRUN true\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := rewriteDockerfile([]byte(tt.in), dfRewrite{File: "Dockerfile", Legacy: true, Froms: tt.froms})
			if string(res.Out) != tt.want {
				t.Errorf("out =\n%q\nwant\n%q", res.Out, tt.want)
			}
			if res.Changed != tt.changed {
				t.Errorf("changed = %v, want %v", res.Changed, tt.changed)
			}
			var lines []int
			for _, r := range res.Review {
				lines = append(lines, r.Line)
				if len(r.Lines) != 1 || !strings.Contains(tt.in, r.Lines[0]) {
					t.Errorf("review %d quotes %q, not a line of the input", r.Line, r.Lines)
				}
			}
			if len(lines) != len(tt.review) {
				t.Fatalf("review lines = %v, want %v", lines, tt.review)
			}
			for i := range lines {
				if lines[i] != tt.review[i] {
					t.Errorf("review lines = %v, want %v", lines, tt.review)
				}
			}
			// Every change is reported.
			if res.Changed && len(res.Rewrites) == 0 {
				t.Errorf("file changed without a reported rewrite")
			}
		})
	}
}
