// Command garoctl administers a garo-server through its portal API. The commands live in
// package portal-api/garoctl; this file only connects them to the process.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/garo-dev/garo/portal-api/garoctl"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := garoctl.Execute(ctx, os.Args[1:], os.LookupEnv, garoctl.IO{In: os.Stdin, Out: os.Stdout, Err: os.Stderr})
	stop()
	os.Exit(code)
}
