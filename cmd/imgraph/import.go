package main

import (
	"fmt"

	"github.com/urfave/cli/v2"
)

func importCommand() *cli.Command {
	return &cli.Command{
		Name:  "import",
		Usage: "not implemented yet",
		Action: func(*cli.Context) error {
			return failedErr(fmt.Errorf("import: not implemented yet"))
		},
	}
}
