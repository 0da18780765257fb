// Package deployments_test checks the deployment files: the Dockerfiles of garo-server and
// garo-agent (statically, and by running their final stage on the real engine), and the
// compose setup (its services' environment through the real configuration loaders).
// Nothing is pulled: the images' build stages are replaced by prebuilt static binaries.
package deployments_test

import (
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// image is one of the images built from deployments/<name>/Dockerfile.
type image struct {
	name string // of the image, its binary and its folder
	pkg  string // the binary's Go package, relative to this folder
	// dataEnv are the variables the image sets to files it must be able to write; their
	// folders must belong to the image's user.
	dataEnv []string
}

var images = []image{
	{name: "garo-server", pkg: "../server/cmd/garo-server", dataEnv: []string{"GARO_DATABASE_SQLITE_PATH", "GARO_AUTH_ADMIN_TOKEN_FILE"}},
	{name: "garo-agent", pkg: "../agent/cmd/garo-agent", dataEnv: []string{"GARO_AGENT_STATE_FILE"}},
}

// instruction is one Dockerfile instruction, its continuation lines joined.
type instruction struct {
	cmd  string // upper case: FROM, COPY, RUN, ...
	args string
}

// words is the instruction's arguments: the JSON array of the exec form, or the words.
func (in instruction) words() []string {
	var w []string
	if strings.HasPrefix(in.args, "[") && json.Unmarshal([]byte(in.args), &w) == nil {
		return w
	}
	return strings.Fields(in.args)
}

// flag returns the value of --name=value among the words, and the words without flags.
func (in instruction) flag(name string) (string, []string) {
	var value string
	var rest []string
	for _, w := range in.words() {
		if v, ok := strings.CutPrefix(w, "--"+name+"="); ok {
			value = v
		} else if !strings.HasPrefix(w, "--") {
			rest = append(rest, w)
		}
	}
	return value, rest
}

// stage is one FROM and the instructions up to the next.
type stage struct {
	image, name string
	line        int // index of the FROM line in dockerfile.lines
	insts       []instruction
}

// all returns the stage's instructions of one kind.
func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.insts {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// env returns the stage's ENV settings (the key=value form; the legacy "ENV key value"
// form is refused).
func (s stage) env(t *testing.T) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, in := range s.all("ENV") {
		for _, w := range in.words() {
			k, v, ok := strings.Cut(w, "=")
			if !ok {
				t.Fatalf("ENV %s: use the KEY=value form", in.args)
			}
			env[k] = v
		}
	}
	return env
}

type dockerfile struct {
	path   string
	lines  []string
	stages []stage
}

func (d dockerfile) final() stage { return d.stages[len(d.stages)-1] }

// parseDockerfile reads the Dockerfile of an image: enough of the syntax for our files
// (comments, continuation lines, exec and shell forms, FROM ... AS name).
func parseDockerfile(t *testing.T, name string) dockerfile {
	t.Helper()
	path := name + "/Dockerfile"
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	d := dockerfile{path: path, lines: strings.Split(string(b), "\n")}
	for i := 0; i < len(d.lines); i++ {
		if l := strings.TrimSpace(d.lines[i]); l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		first := i
		var text strings.Builder
		for ; i < len(d.lines); i++ {
			l := strings.TrimSpace(d.lines[i])
			if strings.HasPrefix(l, "#") { // a comment inside a continuation
				continue
			}
			body, more := strings.CutSuffix(l, `\`)
			text.WriteString(body + " ")
			if !more {
				break
			}
		}
		cmd, args, _ := strings.Cut(strings.TrimSpace(text.String()), " ")
		in := instruction{cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			_, w := in.flag("platform")
			if len(w) == 0 {
				t.Fatalf("%s:%d: FROM without an image", path, first+1)
			}
			s := stage{image: w[0], line: first}
			if len(w) == 3 && strings.EqualFold(w[1], "AS") {
				s.name = w[2]
			}
			d.stages = append(d.stages, s)
			continue
		}
		if len(d.stages) > 0 {
			d.stages[len(d.stages)-1].insts = append(d.stages[len(d.stages)-1].insts, in)
		}
	}
	if len(d.stages) == 0 {
		t.Fatalf("%s: no FROM", path)
	}
	return d
}
