package app

import (
	"os"

	"github.com/garo-dev/garo/shared/configload"
)

// ignoredEnv are GARO_AGENT_* variables that name no key on purpose: the config file's.
var ignoredEnv = []string{"GARO_AGENT_CONFIG"}

// UnknownEnv returns the GARO_AGENT_* environment variables that name no configuration
// key, for run to warn about at start; with GARO_AGENT_STRICT_ENV=1 Load refuses them
// instead.
func UnknownEnv() []configload.UnknownVar {
	return configload.UnknownEnv(&Config{}, configload.Options{EnvPrefix: EnvPrefix, IgnoreEnv: ignoredEnv}, os.Environ())
}
