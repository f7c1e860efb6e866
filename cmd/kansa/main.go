// Command kansa captures audit events, keeps them apart from application
// logs, makes them durable, archives them and finds them again. See the
// README and docs/.
package main

import (
	"os"

	"github.com/kansa-audit/kansa/internal/cli"
)

func main() { os.Exit(cli.Main(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) }
