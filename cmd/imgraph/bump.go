package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func bumpCommand() *cli.Command {
	return &cli.Command{
		Name:  "bump",
		Usage: "not implemented yet",
		Action: func(*cli.Context) error {
			return failedErr(fmt.Errorf("bump: not implemented yet"))
		},
	}
}
