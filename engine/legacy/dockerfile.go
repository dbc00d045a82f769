package legacy

import (
	"regexp"
	"sort"
	"strings"
)

// Rewrite is one line the importer changed in a copied (or in-place)
// Dockerfile. Line is the line in the legacy file; Old is "" for an
// inserted line and New is "" for a deleted one.
type Rewrite struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Old  string `json:"old"`
	New  string `json:"new"`
	Why  string `json:"why"`
}

// Review is something the importer could not convert exactly; Lines are
// the exact legacy lines concerned.
type Review struct {
	Image string   `json:"image"`
	File  string   `json:"file"`
	Line  int      `json:"line,omitempty"`
	Msg   string   `json:"message"`
	Lines []string `json:"lines,omitempty"`
}

var (
	registryFrom  = regexp.MustCompile(`(?i)^(\s*FROM\s+(?:--\S+\s+)*)\$\{?REGISTRY\}?/(\S+?)(\s+AS\s+\S+)?\s*$`)
	qemuCopy      = regexp.MustCompile(`^\s*CROSS_BUILD_COPY\s+qemu-QEMUARCH-static\s+\S+\s*$`)
	argTargetArch = regexp.MustCompile(`(?i)^\s*ARG\s+TARGETARCH\s*(=|$)`)
)

// dfLine is one physical line with the instruction it belongs to.
type dfLine struct {
	text  string // without the line ending
	cr    bool   // had \r\n
	instr string // upper-cased instruction keyword ("" for blank/comment lines)
	first bool   // the instruction starts on this line
	stage int    // index of the stage (FROM) it belongs to; -1 before the first FROM
}

func splitDockerfile(src []byte) (lines []dfLine, finalNL bool) {
	s := string(src)
	finalNL = strings.HasSuffix(s, "\n")
	s = strings.TrimSuffix(s, "\n")
	cont, cur, stage := false, "", -1
	for _, raw := range strings.Split(s, "\n") {
		l := dfLine{text: strings.TrimSuffix(raw, "\r"), cr: strings.HasSuffix(raw, "\r")}
		t := strings.TrimSpace(l.text)
		comment := strings.HasPrefix(t, "#")
		switch {
		case cont:
			l.instr = cur
		case t == "" || comment:
		default:
			cur = strings.ToUpper(strings.Fields(t)[0])
			l.instr, l.first = cur, true
			if cur == "FROM" {
				stage++
			}
		}
		l.stage = stage
		if !(cont && (comment || t == "")) {
			cont = l.instr != "" && strings.HasSuffix(t, "\\")
		}
		lines = append(lines, l)
	}
	return lines, finalNL
}

// registryFromLine is a FROM line that pulls $REGISTRY/<repo>:<tag>.
type registryFromLine struct {
	Line int
	Text string
	Ref  registryRef
	Raw  string // what follows $REGISTRY/
}

// findRegistryFroms lists the FROM $REGISTRY/... lines of a Dockerfile.
func findRegistryFroms(src []byte) []registryFromLine {
	lines, _ := splitDockerfile(src)
	var out []registryFromLine
	for i, l := range lines {
		if l.instr != "FROM" || !l.first {
			continue
		}
		if m := registryFrom.FindStringSubmatch(l.text); m != nil {
			out = append(out, registryFromLine{Line: i + 1, Text: l.text, Ref: parseRegistryRef(m[2]), Raw: m[2]})
		}
	}
	return out
}

// dfRewrite is what to change in one Dockerfile.
type dfRewrite struct {
	File   string         // legacy path, for the report
	Legacy bool           // apply the old script's BASEARCH/QEMUARCH/CROSS_BUILD_ rewriting
	Froms  map[int]string // line → build-arg name replacing $REGISTRY/<ref>
}

// dfResult is the rewritten file and what was done to it.
type dfResult struct {
	Out        []byte
	Changed    bool
	Rewrites   []Rewrite
	Review     []Review // Image left empty; the caller fills it in
	TargetArch bool     // BASEARCH was replaced by ${TARGETARCH}
}

// rewriteDockerfile reproduces the legacy script's edits with BuildKit
// means where that is exact, and turns in-tree FROM $REGISTRY lines into
// image_args build args. Anything else is left as is and reported.
func rewriteDockerfile(src []byte, rw dfRewrite) dfResult {
	lines, finalNL := splitDockerfile(src)
	var res dfResult
	deleted := map[int]bool{}
	replaced := map[int]string{}
	argAfter := map[int]bool{} // insert ARG TARGETARCH after this line index
	argNames := map[string]bool{}
	stageHasArg := map[int]bool{}
	stageFromEnd := map[int]int{} // stage → index of the last line of its FROM instruction
	firstFrom := -1
	for i, l := range lines {
		if l.instr == "FROM" {
			if firstFrom < 0 {
				firstFrom = i
			}
			stageFromEnd[l.stage] = i
		}
		if l.instr == "ARG" && l.first && argTargetArch.MatchString(l.text) {
			stageHasArg[l.stage] = true
		}
	}
	review := func(i int, msg string) {
		res.Review = append(res.Review, Review{File: rw.File, Line: i + 1, Msg: msg, Lines: []string{lines[i].text}})
	}
	for i, l := range lines {
		n := i + 1
		text := l.text
		if name, ok := rw.Froms[n]; ok {
			if m := registryFrom.FindStringSubmatch(text); m != nil {
				text = m[1] + "$" + name + m[3]
				replaced[i] = text
				argNames[name] = true
				res.Rewrites = append(res.Rewrites, Rewrite{File: rw.File, Line: n, Old: l.text, New: text,
					Why: "in-tree image pulled through $REGISTRY; " + name + " now comes from image_args"})
			}
		}
		if !rw.Legacy {
			continue
		}
		if strings.HasPrefix(strings.TrimSpace(l.text), "CROSS_BUILD_") || (l.instr != "" && strings.HasPrefix(l.instr, "CROSS_BUILD_")) {
			if qemuCopy.MatchString(l.text) && l.first {
				deleted[i] = true
				res.Rewrites = append(res.Rewrites, Rewrite{File: rw.File, Line: n, Old: l.text,
					Why: "qemu-*-static copy for cross builds: BuildKit emulates foreign architectures itself (the legacy script also deleted it for amd64)"})
				continue
			}
			review(i, "CROSS_BUILD_ line: the legacy script deleted it for amd64 and stripped the prefix for other architectures; keep one behaviour by hand")
			continue
		}
		if strings.Contains(text, "QEMUARCH") {
			review(i, "QEMUARCH outside a CROSS_BUILD_ qemu copy: the legacy script put the QEMU arch name here (aarch64 for arm64) on non-amd64 builds only")
		}
		if !strings.Contains(text, "BASEARCH") {
			continue
		}
		rest := strings.TrimSpace(text)
		if f := strings.Fields(rest); len(f) > 0 {
			rest = strings.TrimSpace(rest[len(f[0]):])
		}
		execForm := strings.HasPrefix(rest, "[")
		switch {
		case l.stage < 0:
			review(i, "BASEARCH before the first FROM: replace it by hand (the legacy script put the Go arch here)")
			continue
		case l.instr == "CMD" || l.instr == "ENTRYPOINT" || l.instr == "SHELL" || l.instr == "HEALTHCHECK" || l.instr == "ONBUILD",
			l.instr == "RUN" && l.first && execForm:
			review(i, "BASEARCH in "+l.instr+" (no build-arg expansion there): replace it by hand with the architecture, e.g. per platform in build_args")
			continue
		}
		text = strings.ReplaceAll(text, "BASEARCH", "${TARGETARCH}")
		replaced[i] = text
		res.TargetArch = true
		res.Rewrites = append(res.Rewrites, Rewrite{File: rw.File, Line: n, Old: l.text, New: text,
			Why: "the legacy script replaced BASEARCH with the Go arch; BuildKit's TARGETARCH is that arch"})
		if l.instr != "FROM" && !stageHasArg[l.stage] {
			argAfter[stageFromEnd[l.stage]] = true
		}
	}
	if len(replaced) == 0 && len(deleted) == 0 {
		res.Out = src
		return res
	}
	var names []string
	for name := range argNames {
		names = append(names, name)
	}
	sort.Strings(names)
	var b strings.Builder
	emit := func(s string, cr bool) {
		b.WriteString(s)
		if cr {
			b.WriteString("\r")
		}
		b.WriteString("\n")
	}
	for i, l := range lines {
		if i == firstFrom {
			for _, name := range names {
				emit("ARG "+name, l.cr)
				res.Rewrites = append(res.Rewrites, Rewrite{File: rw.File, Line: i + 1, New: "ARG " + name,
					Why: "declares the build arg the rewritten FROM uses (inserted before the first FROM)"})
			}
		}
		switch {
		case deleted[i]:
		case replaced[i] != "":
			emit(replaced[i], l.cr)
		default:
			emit(l.text, l.cr)
		}
		if argAfter[i] {
			emit("ARG TARGETARCH", l.cr)
			res.Rewrites = append(res.Rewrites, Rewrite{File: rw.File, Line: i + 1, New: "ARG TARGETARCH",
				Why: "TARGETARCH must be declared in each stage that uses it (inserted after this FROM)"})
		}
	}
	out := b.String()
	if !finalNL {
		out = strings.TrimSuffix(strings.TrimSuffix(out, "\n"), "\r")
	}
	res.Out, res.Changed = []byte(out), true
	sort.SliceStable(res.Rewrites, func(i, j int) bool { return res.Rewrites[i].Line < res.Rewrites[j].Line })
	return res
}
