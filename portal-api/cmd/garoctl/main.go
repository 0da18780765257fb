// Command garoctl administers a garo-server through its portal API. The commands live in
// package portal-api/garoctl; this file only connects them to the process.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/garo-dev/garo/portal-api/garoctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := garoctl.NewCommand(os.LookupEnv).ExecuteContext(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "garoctl:", err)
		os.Exit(1)
	}
}
