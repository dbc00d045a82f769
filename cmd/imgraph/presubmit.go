package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func presubmitCommand() *cli.Command {
	return &cli.Command{
		Name:  "presubmit",
		Usage: "not implemented yet",
		Action: func(*cli.Context) error {
			return failedErr(fmt.Errorf("presubmit: not implemented yet"))
		},
	}
}
