// Command stubrunner is the test image's /home/runner/run.sh (written for these tests,
// same license as the repository). It reads ACTIONS_RUNNER_INPUT_JITCONFIG:
//
//	exit:N   print a few lines (and the JIT config, to test redaction), exit N
//	sleep    print a line, then sleep until SIGTERM, exit 0
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
)

func main() {
	jit := os.Getenv("ACTIONS_RUNNER_INPUT_JITCONFIG")
	fmt.Println("stubrunner: starting")
	switch {
	case strings.HasPrefix(jit, "exit:"):
		code, err := strconv.Atoi(strings.TrimPrefix(jit, "exit:"))
		if err != nil {
			fmt.Fprintln(os.Stderr, "stubrunner: bad exit code:", err)
			os.Exit(3)
		}
		for i := 1; i <= 30; i++ {
			fmt.Printf("stubrunner: line %d\n", i)
		}
		// One stream: the engine does not keep the order between stdout and stderr.
		fmt.Printf("stubrunner: config %s\n", jit)
		fmt.Printf("stubrunner: failing with exit code %d\n", code)
		os.Exit(code)
	default:
		// PID 1 ignores SIGTERM without a handler: install one so that stop is quick.
		ch := make(chan os.Signal, 1)
		signal.Notify(ch, syscall.SIGTERM, syscall.SIGINT)
		fmt.Println("stubrunner: online, waiting")
		<-ch
		fmt.Println("stubrunner: stopping")
	}
}
