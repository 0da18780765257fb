package configload

import (
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
)

// StrictEnvSuffix names the switch that turns unknown environment variables from
// warnings into errors: GARO_STRICT_ENV, GARO_AGENT_STRICT_ENV, set to 1 or true.
const StrictEnvSuffix = "_STRICT_ENV"

// UnknownVar is an environment variable with the binary's prefix that names no key.
type UnknownVar struct {
	Name    string
	Suggest string // the variable of the nearest key, "" when none is near
}

func (u UnknownVar) String() string {
	if u.Suggest != "" {
		return fmt.Sprintf("%s: names no configuration key (did you mean %s?)", u.Name, u.Suggest)
	}
	return u.Name + ": names no configuration key"
}

// EnvName is the environment variable of key: the prefix, "_", and the key upper-cased
// with dots as underscores.
func EnvName(prefix, key string) string {
	return prefix + "_" + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// StrictEnv reports whether the prefix's strict switch is on in the environment.
func StrictEnv(prefix string) bool {
	switch strings.ToLower(strings.TrimSpace(os.Getenv(prefix + StrictEnvSuffix))) {
	case "1", "true":
		return true
	}
	return false
}

// UnknownEnv returns, sorted, the variables of environ ("NAME=value" entries) that start
// with o.EnvPrefix and "_", are not empty (an empty variable counts as unset) and name no
// key of the struct dst points to, nor one of o.IgnoreEnv: a misspelt variable is
// otherwise ignored silently, as a misspelt YAML key would be if the file were not checked.
func UnknownEnv(dst any, o Options, environ []string) []UnknownVar {
	known := map[string]bool{}
	var names []string
	for _, key := range Keys(dst) {
		n := EnvName(o.EnvPrefix, key)
		known[n] = true
		names = append(names, n)
	}
	var out []UnknownVar
	for _, kv := range environ {
		name, value, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, o.EnvPrefix+"_") || value == "" || known[name] ||
			name == o.EnvPrefix+StrictEnvSuffix || ignored(name, o.IgnoreEnv) {
			continue
		}
		out = append(out, UnknownVar{Name: name, Suggest: nearest(name, names)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// ignored reports whether name is one of ignore, or starts with one that ends in "_".
func ignored(name string, ignore []string) bool {
	for _, i := range ignore {
		if name == i || (strings.HasSuffix(i, "_") && strings.HasPrefix(name, i)) {
			return true
		}
	}
	return false
}

// nearest returns the candidate closest to name by edit distance, if it is within a
// third of name's length (at most 4 edits), else "".
func nearest(name string, candidates []string) string {
	best, bestDist := "", min(4, len(name)/3)+1
	for _, c := range candidates {
		if d := editDistance(name, c); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// editDistance is the Levenshtein distance of a and b, in bytes (the names are ASCII).
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// WarnUnknown logs each of vars at warn level: what a binary does at start when the
// strict switch of prefix is off.
func WarnUnknown(log *slog.Logger, prefix string, vars []UnknownVar) {
	for _, u := range vars {
		attrs := []any{"name", u.Name}
		if u.Suggest != "" {
			attrs = append(attrs, "did_you_mean", u.Suggest)
		}
		log.Warn("environment variable names no configuration key: ignored ("+prefix+StrictEnvSuffix+"=1 refuses it)", attrs...)
	}
}
