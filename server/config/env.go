package config

import (
	"os"

	"github.com/garo-dev/garo/shared/configload"
)

// ignoredEnv are GARO_* variables that name no key of garo-server on purpose: the config
// file's variable, garoctl's, and other programs' prefixes (the agent's, the stub
// runner's), which may well be set on the same host.
var ignoredEnv = []string{"GARO_CONFIG", "GARO_SERVER", "GARO_TOKEN", "GARO_AGENT_", "GARO_STUB_"}

// UnknownEnv returns the GARO_* environment variables that name no configuration key
// (and are not ignoredEnv), for serve to warn about at start; with GARO_STRICT_ENV=1
// Load refuses them instead.
func UnknownEnv() []configload.UnknownVar {
	return configload.UnknownEnv(&Config{}, configload.Options{EnvPrefix: EnvPrefix, IgnoreEnv: ignoredEnv}, os.Environ())
}
