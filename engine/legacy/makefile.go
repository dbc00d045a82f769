package legacy

import (
	"fmt"
	"path"
	"regexp"
	"strings"

	"github.com/google/shlex"
)

// goBinary is one go_binary(...) prebuild step.
type goBinary struct {
	Package string
	Out     string
	Ldflags string
}

var (
	makeVar     = regexp.MustCompile(`^([A-Za-z_][A-Za-z0-9_]*)\s*(?:\?=|:=|::=|\+=|=)\s*(.*)$`)
	makeRef     = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)|\$\{([A-Za-z_][A-Za-z0-9_]*)\}`)
	imageUtil   = regexp.MustCompile(`^(?:\.\./)+image-util\.sh\s+bin\s+(.+)$`)
	targetOut   = regexp.MustCompile(`^(?:\$\(TARGET\)|\$\{TARGET\})/(.+)$`)
	allowedEnvs = regexp.MustCompile(`^(CGO_ENABLED=0|GOOS=(\$\(OS\)|\$\{OS\}|linux)|GOARCH=(\$\(ARCH\)|\$\{ARCH\})|GOARM=\S*|GO111MODULE=\S*|GOFLAGS=)$`)
)

// parseMakefile recognises the `bin` target patterns of test/images:
//
//	SRCS = a b
//	bin:
//		../image-util.sh bin $(SRCS)
//
// (image-util.sh runs `go build --ldflags "-w" -o $TARGET/$SRC ./$(dirname $SRC)`
// with CGO_ENABLED=0 GOOS GOARCH set), and a single cross-compiling
// `go build -o $(TARGET)/NAME PKG` line. Anything else is an error that
// the caller reports as needing review.
func parseMakefile(src []byte) ([]goBinary, error) {
	text := strings.ReplaceAll(string(src), "\\\n", " ")
	vars := map[string]string{}
	var recipe []string
	inBin, found := false, false
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSuffix(line, "\r")
		if strings.HasPrefix(line, "\t") {
			if inBin {
				if r := strings.TrimSpace(line); r != "" && !strings.HasPrefix(r, "#") {
					recipe = append(recipe, strings.TrimLeft(r, "@-"))
				}
			}
			continue
		}
		t := strings.TrimSpace(line)
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		if m := makeVar.FindStringSubmatch(t); m != nil {
			vars[m[1]] = strings.TrimSpace(m[2])
			continue
		}
		inBin = false
		if targets, prereqs, ok := strings.Cut(t, ":"); ok && !strings.HasPrefix(prereqs, "=") {
			for _, tg := range strings.Fields(targets) {
				if tg == "bin" {
					if found {
						return nil, fmt.Errorf("bin target defined twice")
					}
					inBin, found = true, true
					if p := strings.TrimSpace(prereqs); p != "" {
						return nil, fmt.Errorf("bin has prerequisites (%s); prebuild steps cannot express them", p)
					}
				}
			}
		}
	}
	if !found {
		return nil, fmt.Errorf("no bin target (the legacy script runs `make bin` whenever a Makefile exists, so this image did not build)")
	}
	if len(recipe) != 1 {
		return nil, fmt.Errorf("bin runs %d commands; only a single go build or image-util.sh bin line is recognised", len(recipe))
	}
	expand := func(s string) string {
		for i := 0; i < 5 && makeRef.MatchString(s); i++ {
			s = makeRef.ReplaceAllStringFunc(s, func(ref string) string {
				m := makeRef.FindStringSubmatch(ref)
				name := m[1] + m[2]
				// OS, ARCH and TARGET are given on make's command line by the
				// script, which overrides the Makefile's own assignments.
				if v, ok := vars[name]; ok && name != "OS" && name != "ARCH" && name != "TARGET" {
					return v
				}
				return ref
			})
		}
		return s
	}
	cmd := expand(recipe[0])
	if m := imageUtil.FindStringSubmatch(cmd); m != nil {
		var out []goBinary
		for _, src := range strings.Fields(m[1]) {
			if strings.Contains(src, "$") {
				return nil, fmt.Errorf("image-util.sh bin %s: unresolved variable", src)
			}
			out = append(out, goBinary{Package: pkgOf(path.Dir(src)), Out: src, Ldflags: "-w"})
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("image-util.sh bin without sources")
		}
		return out, nil
	}
	return parseGoBuild(cmd)
}

func pkgOf(dir string) string {
	if dir == "." || dir == "" {
		return "."
	}
	return "./" + strings.TrimPrefix(path.Clean(dir), "./")
}

// parseGoBuild accepts `[ENV=...] go build [flags] -o $(TARGET)/NAME PKG`.
func parseGoBuild(cmd string) ([]goBinary, error) {
	words, err := shlex.Split(cmd)
	if err != nil {
		return nil, fmt.Errorf("cannot split %q: %v", cmd, err)
	}
	i := 0
	for ; i < len(words) && strings.Contains(words[i], "=") && !strings.HasPrefix(words[i], "-"); i++ {
		if !allowedEnvs.MatchString(words[i]) {
			return nil, fmt.Errorf("go build with environment %s, which go_binary does not set", words[i])
		}
	}
	if i+1 >= len(words) || (words[i] != "go" && words[i] != "$(GO)" && words[i] != "${GO}") || words[i+1] != "build" {
		return nil, fmt.Errorf("bin runs %q, not go build or image-util.sh bin", cmd)
	}
	var gb goBinary
	var pkgs []string
	args := words[i+2:]
	for j := 0; j < len(args); j++ {
		a := args[j]
		val := func() (string, error) {
			if _, v, ok := strings.Cut(a, "="); ok {
				return v, nil
			}
			if j+1 >= len(args) {
				return "", fmt.Errorf("%s without a value", a)
			}
			j++
			return args[j], nil
		}
		flag := strings.TrimLeft(strings.SplitN(a, "=", 2)[0], "-")
		switch {
		case !strings.HasPrefix(a, "-"):
			pkgs = append(pkgs, a)
		case flag == "a" || flag == "trimpath" || flag == "v":
		case flag == "installsuffix":
			if _, err := val(); err != nil {
				return nil, err
			}
		case flag == "ldflags":
			v, err := val()
			if err != nil {
				return nil, err
			}
			gb.Ldflags = v
		case flag == "o":
			v, err := val()
			if err != nil {
				return nil, err
			}
			m := targetOut.FindStringSubmatch(v)
			if m == nil || strings.Contains(m[1], "$") {
				return nil, fmt.Errorf("go build -o %s does not write into $(TARGET)", v)
			}
			gb.Out = m[1]
		default:
			return nil, fmt.Errorf("go build flag %s is not supported by go_binary", a)
		}
	}
	if gb.Out == "" {
		return nil, fmt.Errorf("go build without -o $(TARGET)/NAME")
	}
	if len(pkgs) != 1 || !(pkgs[0] == "." || strings.HasPrefix(pkgs[0], "./")) || strings.HasSuffix(pkgs[0], ".go") || strings.Contains(pkgs[0], "$") {
		return nil, fmt.Errorf("go build of %v: go_binary needs one package directory such as ./cmd/foo", pkgs)
	}
	gb.Package = pkgOf(pkgs[0])
	return []goBinary{gb}, nil
}
