// Command gendocs writes garoctl's Markdown command reference (docs/cli/) from its command
// tree: go generate ./portal-api/garoctl, or make docs.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/garo-dev/garo/portal-api/garoctl"
)

func main() {
	out := flag.String("out", "docs/cli", "directory of the generated pages")
	flag.Parse()
	if err := garoctl.GenerateDocs(*out); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
