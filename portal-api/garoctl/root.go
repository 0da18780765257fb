// Package garoctl is the admin command line of garo-server, built on portal-api/client.
// cmd/garoctl only wires it to the process: arguments, environment, standard streams.
package garoctl

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/shared/version"
)

// Environment variables read by garoctl.
const (
	EnvServer = "GARO_SERVER"
	EnvToken  = "GARO_TOKEN"
	EnvConfig = "GARO_CONFIG"
)

// Exit codes of Execute.
const (
	ExitOK     = 0 // the command did what it was asked
	ExitServer = 1 // the server said no (or could not be reached)
	ExitUsage  = 2 // bad arguments, flags or configuration
)

// Env is the process environment garoctl reads; os.LookupEnv in production.
type Env func(key string) (string, bool)

// IO are the standard streams of one run.
type IO struct {
	In       io.Reader
	Out, Err io.Writer
	// Editor runs $EDITOR on a file (garoctl policy edit); nil runs the real one.
	Editor func(ctx context.Context, path string) error
	// Now is the clock (ages, --since durations); nil is time.Now.
	Now func() time.Time
	// After is the timer between polls of --watch and top; nil is time.After.
	After func(d time.Duration) <-chan time.Time
	// BeforeApply, when set, runs after apply has read the server and before its first
	// write: tests change a policy there to see the If-Match conflict.
	BeforeApply func(ctx context.Context) error
}

// Execute runs garoctl with args and returns its exit code: 0 ok, 1 when the server said
// no, 2 for usage and configuration errors. Errors go to streams.Err.
func Execute(ctx context.Context, args []string, env Env, streams IO) int {
	root := NewCommand(env, streams)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return ExitOK
	}
	if errors.Is(err, errChanges) {
		return ExitDiffChanges
	}
	fmt.Fprintln(streams.Err, "garoctl: "+errorMessage(err))
	var ue usageError
	if errors.As(err, &ue) || isCobraUsage(err) {
		if cmd != nil {
			fmt.Fprintln(streams.Err)
			fmt.Fprint(streams.Err, cmd.UsageString())
		}
		return ExitUsage
	}
	var ce configError
	if errors.As(err, &ce) {
		return ExitUsage
	}
	var df diffFailed
	if errors.As(err, &df) {
		return ExitDiffFailed
	}
	return ExitServer
}

// NewCommand returns the root garoctl command writing to streams.
func NewCommand(env Env, streams IO) *cobra.Command {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	g := &globals{env: env, io: streams}
	root := &cobra.Command{
		Use:   "garoctl",
		Short: "Administer a Garo server through its portal API",
		Long: `garoctl administers a garo-server, the orchestrator of GitHub Actions self-hosted
runners, through its portal REST API (/api/v1).

The server and its credentials come from --server and --token-file, else from ` + EnvServer + `
and ` + EnvToken + `, else from the current context of the configuration file (written by
"garoctl login"; --config, else ` + EnvConfig + `, else $XDG_CONFIG_HOME/garoctl/config.yaml).

Exit codes: 0 done, 1 the server said no (its message is printed), 2 usage or
configuration error; garoctl diff exits 0 without changes, 1 with changes, 2 or 3 on
an error.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	if streams.Out != nil {
		root.SetOut(streams.Out)
	}
	if streams.Err != nil {
		root.SetErr(streams.Err)
	}
	if streams.In != nil {
		root.SetIn(streams.In)
	}
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	g.bindFlags(root)

	root.AddGroup(
		&cobra.Group{ID: "setup", Title: "Connection:"},
		&cobra.Group{ID: "res", Title: "Resources:"},
		&cobra.Group{ID: "decl", Title: "Declarative policies:"},
	)
	add := func(group string, cmds ...*cobra.Command) {
		for _, c := range cmds {
			c.GroupID = group
			root.AddCommand(c)
		}
	}
	add("setup", loginCommand(g), contextCommand(g), whoamiCommand(g), versionCommand(g))
	add("res", policyCommand(g), groupCommand(g), regTokenCommand(g), agentCommand(g),
		jobCommand(g), runnerCommand(g), usageCommand(g), tokenCommand(g), auditCommand(g), topCommand(g), githubCommand(g))
	add("decl", applyCommand(g), diffCommand(g))
	add("res", getCommand(g))
	root.SetHelpCommandGroupID("setup")
	root.SetCompletionCommandGroupID("setup")
	wrapArgs(root)
	return root
}

// wrapArgs makes every command's argument check fail as a usage error.
func wrapArgs(c *cobra.Command) {
	if c.Args != nil {
		check := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := check(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func versionCommand(g *globals) *cobra.Command {
	var server bool
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the version of garoctl (and with --server-version, of the server)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := fmt.Fprintln(cmd.OutOrStdout(), "garoctl "+version.Get().String()); err != nil {
				return err
			}
			if !server {
				return nil
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			v, err := c.Version(cmd.Context())
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "garo-server %s (commit %s, built %s, %s)\n", v.Version, v.Commit, v.BuildDate, v.GoVersion)
			return err
		},
	}
	cmd.Flags().BoolVar(&server, "server-version", false, "also ask the server for its version")
	return cmd
}

func whoamiCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "whoami",
		Short: "Describe the API token in use",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			w, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			return g.print(cmd, w, table{
				head: []string{"TOKEN", "NAME", "SCOPES", "OWNER PREFIXES"},
				rows: [][]string{{w.TokenID, w.Name, join(w.Scopes), join(w.OwnerPrefixes)}},
			})
		},
	}
}
