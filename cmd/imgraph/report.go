package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/exec"
	"github.com/imgraph/imgraph/engine/exec/docker"
	"github.com/imgraph/imgraph/engine/platform"
)

// summaryJSON is the stable machine-readable build report (README.md).
type summaryJSON struct {
	Nodes       []summaryNode `json:"nodes"`
	Lists       []listResult  `json:"manifest_lists,omitempty"`
	Built       int           `json:"built"`
	UpToDate    int           `json:"up_to_date"`
	Failed      int           `json:"failed"`
	NotBuilt    int           `json:"not_built"`
	ListsFailed int           `json:"manifest_lists_failed"`
	Seconds     float64       `json:"seconds"`
	SolveSecs   float64       `json:"solve_seconds"`
	// BusySecs is the wall time during which at least one solve or
	// prebuild step ran; Seconds - BusySecs is imgraph's own overhead
	// (load, hash, plan, scheduling, publishing).
	BusySecs float64 `json:"busy_seconds"`
}

type summaryNode struct {
	ID          string  `json:"id"`
	Ref         string  `json:"ref"`
	State       string  `json:"state"`
	Reason      string  `json:"reason,omitempty"`
	Error       string  `json:"error,omitempty"`
	InputDigest string  `json:"input_digest"`
	Digest      string  `json:"digest,omitempty"`
	Seconds     float64 `json:"seconds"`
	Builder     string  `json:"builder,omitempty"`
}

func (bs *buildState) summary(lists []listResult, total time.Duration) summaryJSON {
	s := summaryJSON{Lists: lists, Seconds: total.Seconds()}
	var solve time.Duration
	for _, id := range bs.order {
		r := bs.runs[id]
		n := summaryNode{ID: id.String(), Ref: r.ref, State: string(r.outcome.State), Reason: r.outcome.Reason,
			InputDigest: string(r.digest.Digest), Digest: r.result.Digest, Seconds: r.took.Seconds(), Builder: r.executor}
		if r.outcome.Err != nil {
			n.Error = r.outcome.Err.Error()
		}
		switch r.outcome.State {
		case exec.StateBuilt:
			s.Built++
		case exec.StateUpToDate:
			s.UpToDate++
		case exec.StateFailed:
			s.Failed++
		default:
			s.NotBuilt++
		}
		solve += r.solve
		s.Nodes = append(s.Nodes, n)
	}
	s.SolveSecs = solve.Seconds()
	s.BusySecs = bs.busy.total().Seconds()
	for _, l := range lists {
		if l.Error != "" {
			s.ListsFailed++
		}
	}
	return s
}

func writeSummary(c *cli.Context, s summaryJSON) error {
	if f := c.String("metadata-file"); f != "" {
		fh, err := os.Create(f)
		if err != nil {
			return err
		}
		if err := writeJSON(fh, s); err != nil {
			fh.Close()
			return err
		}
		if err := fh.Close(); err != nil {
			return err
		}
	}
	if c.String("output") == "json" {
		return writeJSON(c.App.Writer, s)
	}
	w := tabwriter.NewWriter(c.App.Writer, 0, 4, 2, ' ', 0)
	fmt.Fprintln(w, "NODE\tSTATE\tTIME\tDIGEST\tNOTE")
	for _, n := range s.Nodes {
		note := n.Reason
		if n.Error != "" {
			note = firstLines(n.Error, 1)
		}
		fmt.Fprintf(w, "%s\t%s\t%.1fs\t%s\t%s\n", n.ID, n.State, n.Seconds, short(n.Digest), note)
	}
	w.Flush()
	for _, n := range s.Nodes {
		if n.Error != "" {
			fmt.Fprintf(c.App.ErrWriter, "\n%s failed:\n%s\n", n.ID, indent(lastLines(n.Error, 20)))
		}
	}
	for _, l := range s.Lists {
		switch {
		case l.Error != "":
			fmt.Fprintf(c.App.Writer, "manifest list %s: NOT published: %s\n", l.Ref, l.Error)
		case len(l.Missing) > 0:
			fmt.Fprintf(c.App.Writer, "manifest list %s: published %s WITHOUT %s (--allow-missing-platforms)\n", l.Ref, short(l.Digest), strings.Join(l.Missing, ", "))
		default:
			fmt.Fprintf(c.App.Writer, "manifest list %s: %s\n", l.Ref, short(l.Digest))
		}
	}
	fmt.Fprintf(c.App.Writer, "%d built, %d up to date, %d failed, %d not built in %.1fs\n", s.Built, s.UpToDate, s.Failed, s.NotBuilt, s.Seconds)
	return nil
}

func short(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	if len(lines) > n {
		lines = lines[:n]
	}
	return strings.Join(lines, " ")
}

func lastLines(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

func printPlan(w io.Writer, bs *buildState) error {
	if bs.c.String("output") == "json" {
		type planJSON struct {
			ID          string            `json:"id"`
			Ref         string            `json:"ref"`
			InputDigest string            `json:"input_digest"`
			Action      string            `json:"action"`
			Reason      string            `json:"reason"`
			Parts       map[string]string `json:"parts,omitempty"`
		}
		var out []planJSON
		for _, id := range bs.order {
			r := bs.runs[id]
			action, reason := planAction(r)
			parts := map[string]string{}
			for k, v := range r.digest.Parts {
				parts[k] = string(v)
			}
			out = append(out, planJSON{ID: id.String(), Ref: r.ref, InputDigest: string(r.digest.Digest), Action: action, Reason: reason, Parts: parts})
		}
		return writeJSON(w, map[string]any{"plan": out})
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tACTION\tINPUT DIGEST\tWHY")
	for _, id := range bs.order {
		r := bs.runs[id]
		action, reason := planAction(r)
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", id, action, short(string(r.digest.Digest)), reason)
	}
	return tw.Flush()
}

func planAction(r *nodeRun) (string, string) {
	switch {
	case r.executor == "":
		return "not built", r.why
	case r.decision.Build:
		return "build", r.decision.Reason
	}
	return "up to date", r.decision.Reason
}

// noBuilderHint says how to get a builder for the Windows releases that
// have none (the plan and summary rows only say "no builder for ...").
func noBuilderHint(w io.Writer, bs *buildState) {
	var windows []platform.Platform
	n := 0
	for _, id := range bs.order {
		r := bs.runs[id]
		if r.executor != "" || !strings.HasPrefix(r.why, "no builder for ") {
			continue
		}
		n++
		if p := id.Platform; p.IsWindows() && p.OSVersion != "" && !slices.Contains(windows, p) {
			windows = append(windows, p)
		}
	}
	for _, p := range windows {
		fmt.Fprintf(w, "no builder for %s: declare docker_builder(os_version = %q, host = \"tcp://HOST:2376\") in WORKSPACE.star or set %s%s\n",
			p, p.OSVersion, docker.EnvHostPrefix, strings.ToUpper(p.OSVersion))
	}
	if n > 0 && len(windows) == 0 {
		fmt.Fprintf(w, "%d node(s) have no builder: declare docker_builder(platforms = [...], host = ...) in WORKSPACE.star for their platforms\n", n)
	}
}
