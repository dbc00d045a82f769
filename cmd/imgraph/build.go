package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/imgraph/imgraph/engine/graph"
)

func buildCommand() *cli.Command {
	return &cli.Command{
		Name:      "build",
		Usage:     "build TARGETS and everything they build on",
		ArgsUsage: "[TARGETS]",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "dry-run", Usage: "print the plan (what would build and why) without building"},
		},
		Action: func(c *cli.Context) error {
			g, err := loadGraph(c)
			if err != nil {
				return err
			}
			ids, err := selectTargets(g, c.Args().Slice())
			if err != nil {
				return err
			}
			ids = g.Closure(ids)
			if !c.Bool("dry-run") {
				return failedErr(fmt.Errorf("build: executing builds is not implemented yet; use --dry-run"))
			}
			for _, id := range ids {
				fmt.Fprintln(c.App.Writer, id)
			}
			return nil
		},
	}
}

func queryHash(c *cli.Context, g *graph.Graph, out string) error {
	return failedErr(fmt.Errorf("query hash: not implemented yet"))
}
