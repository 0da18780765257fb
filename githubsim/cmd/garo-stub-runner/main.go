// Command garo-stub-runner stands in for the GitHub Actions runner against the GitHub
// simulator: it reads its JIT config from ACTIONS_RUNNER_INPUT_JITCONFIG, comes online,
// runs one job and exits with the real runner's exit codes. See package stubrunner for
// the contract and the GARO_STUB_* fault options. The stub runner image
// (deployments/stub-runner/Dockerfile, `make stub-image`) holds this binary as
// /home/runner/run.sh.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/garo-dev/garo/githubsim/stubrunner"
)

func main() {
	// SIGTERM is how docker stop (and Garo's Delete) ends a runner; SIGINT for a terminal.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	code := stubrunner.Run(ctx, os.Getenv, os.Stdout)
	stop()
	os.Exit(code)
}
