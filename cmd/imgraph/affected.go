package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func affectedCommand() *cli.Command {
	return &cli.Command{
		Name:  "affected",
		Usage: "not implemented yet",
		Action: func(*cli.Context) error {
			return failedErr(fmt.Errorf("affected: not implemented yet"))
		},
	}
}
