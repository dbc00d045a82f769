// Package vcs reads a git repository without touching its working tree:
// revisions, the files changed between two of them, and an fs.FS over the
// tree of a revision, so the loader and hasher can evaluate an old commit
// exactly as they evaluate the checkout.
package vcs

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path"
	"sort"
	"strings"
	"sync"
)

// Repo is a git repository seen from a directory inside its work tree.
type Repo struct {
	// Top is the absolute path of the work tree's top directory.
	Top string
	// Prefix is the directory the Repo was opened at, relative to Top
	// ("" at the top), slash-separated. Paths returned by Changed and
	// served by TreeFS are relative to it.
	Prefix string

	catOnce sync.Once
	cat     *catFile
}

// ErrNotRepo is returned by Open outside a git work tree.
var ErrNotRepo = errors.New("not inside a git work tree")

// Open finds the repository holding dir.
func Open(ctx context.Context, dir string) (*Repo, error) {
	out, err := git(ctx, dir, "rev-parse", "--show-toplevel", "--show-prefix")
	if err != nil {
		return nil, fmt.Errorf("%s: %w (imgraph affected/presubmit compare git revisions; run them in a clone)", dir, ErrNotRepo)
	}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	r := &Repo{Top: lines[0]}
	if len(lines) > 1 {
		r.Prefix = strings.TrimSuffix(lines[1], "/")
	}
	return r, nil
}

// RevError explains why a revision cannot be used, with the commands that
// would make it available.
type RevError struct {
	Rev     string
	Shallow bool
	Msg     string
}

func (e *RevError) Error() string { return e.Msg }

// Resolve turns a revision name into a full commit id. An unknown
// revision gives a *RevError that says how to fetch it, mentioning the
// shallow clone when the repository is one (the usual CI cause).
func (r *Repo) Resolve(ctx context.Context, rev string) (string, error) {
	if rev == "" {
		return "", &RevError{Msg: "empty revision"}
	}
	if strings.HasPrefix(rev, "-") {
		return "", &RevError{Rev: rev, Msg: fmt.Sprintf("revision %q: a revision cannot start with '-'", rev)}
	}
	out, err := git(ctx, r.Top, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	if err == nil {
		return strings.TrimSpace(string(out)), nil
	}
	shallow := false
	if s, err := git(ctx, r.Top, "rev-parse", "--is-shallow-repository"); err == nil {
		shallow = strings.TrimSpace(string(s)) == "true"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "revision %q is not in this clone", rev)
	remote := "origin"
	if shallow {
		fmt.Fprintf(&b, " (it is a shallow clone, so older commits are missing).\n  fetch the full history:  git fetch --unshallow %s\n  or just enough of it:    git fetch --depth=50 %s %s", remote, remote, rev)
	} else {
		fmt.Fprintf(&b, ".\n  fetch it:  git fetch %s %s\n  (a branch name may need its remote prefix, e.g. %s/%s)", remote, rev, remote, rev)
	}
	return "", &RevError{Rev: rev, Shallow: shallow, Msg: b.String()}
}

// Change is one file that differs between two revisions.
type Change struct {
	// Status is git's letter: A added, D deleted, M modified, T type
	// changed (renames are reported as D + A).
	Status string `json:"status"`
	Path   string `json:"path"` // relative to the Repo's Prefix
}

// Changed lists the files under the Repo's prefix that differ between
// base and head; head "" means the working tree, including untracked
// files that are not ignored. Paths are sorted.
func (r *Repo) Changed(ctx context.Context, base, head string) ([]Change, error) {
	args := []string{"diff", "--name-status", "-z", "--no-renames", "--no-ext-diff", "--ignore-submodules=dirty", base}
	if head != "" {
		args = append(args, head)
	}
	args = append(args, "--", ".")
	dir := path.Join(r.Top, r.Prefix)
	out, err := git(ctx, dir, args...)
	if err != nil {
		return nil, fmt.Errorf("list files changed since %s: %w", short(base), err)
	}
	var changes []Change
	fields := bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0})
	for i := 0; i+1 < len(fields); i += 2 {
		changes = append(changes, Change{Status: string(fields[i][:1]), Path: r.rel(string(fields[i+1]))})
	}
	if head == "" {
		out, err := git(ctx, dir, "ls-files", "-z", "--others", "--exclude-standard", "--full-name", "--", ".")
		if err != nil {
			return nil, fmt.Errorf("list untracked files: %w", err)
		}
		for _, f := range bytes.Split(bytes.TrimRight(out, "\x00"), []byte{0}) {
			if len(f) > 0 {
				changes = append(changes, Change{Status: "A", Path: r.rel(string(f))})
			}
		}
	}
	sort.Slice(changes, func(i, j int) bool { return changes[i].Path < changes[j].Path })
	return changes, nil
}

// rel makes a top-relative path prefix-relative.
func (r *Repo) rel(p string) string {
	if r.Prefix == "" {
		return p
	}
	return strings.TrimPrefix(p, r.Prefix+"/")
}

func short(rev string) string {
	if len(rev) == 40 {
		return rev[:12]
	}
	return rev
}

// git runs one git command and returns its stdout; the error carries
// git's stderr.
func git(ctx context.Context, dir string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "git", args...)
	cmd.Dir = dir
	cmd.Env = append(cmd.Environ(), "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return nil, fmt.Errorf("git %s: %s", strings.Join(args, " "), msg)
	}
	return out, nil
}
