// Package version reports the build of a Garo binary. The Makefile stamps the variables
// with -ldflags "-X github.com/garo-dev/garo/shared/version.Version=..." and so on.
package version

import (
	"fmt"
	"runtime"
)

// Stamped at build time; the defaults describe an unstamped development build.
var (
	Version   = "dev"
	Commit    = "unknown"
	BuildDate = "unknown"
)

// Info is the build description of the running binary.
type Info struct {
	Version   string
	Commit    string
	BuildDate string
	GoVersion string
}

// Get returns the build description of the running binary.
func Get() Info {
	return Info{Version: Version, Commit: Commit, BuildDate: BuildDate, GoVersion: runtime.Version()}
}

// String is the one-line form printed by each binary's "version" command.
func (i Info) String() string {
	return fmt.Sprintf("%s (commit %s, built %s, %s)", i.Version, i.Commit, i.BuildDate, i.GoVersion)
}
