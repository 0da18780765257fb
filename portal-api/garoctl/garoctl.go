// Package garoctl is the admin command line of garo-server, built on portal-api/client.
// cmd/garoctl only wires it to the process: arguments, environment, standard streams.
package garoctl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
	"github.com/garo-dev/garo/shared/version"
)

// Environment variables read by garoctl.
const (
	EnvServer = "GARO_SERVER"
	EnvToken  = "GARO_TOKEN"
)

// DefaultServer is the server URL used when neither --server nor GARO_SERVER is set.
const DefaultServer = "http://127.0.0.1:8080"

// Env is the process environment garoctl reads; os.LookupEnv in production.
type Env func(key string) (string, bool)

// globals are the persistent flags shared by every command.
type globals struct {
	env       Env
	server    string
	tokenFile string
}

// NewCommand returns the root garoctl command. Output goes to the command's out and err
// writers (set them with SetOut and SetErr); env supplies GARO_SERVER and GARO_TOKEN.
func NewCommand(env Env) *cobra.Command {
	if env == nil {
		env = func(string) (string, bool) { return "", false }
	}
	g := &globals{env: env}
	serverDefault := DefaultServer
	if s, ok := env(EnvServer); ok && s != "" {
		serverDefault = s
	}
	root := &cobra.Command{
		Use:   "garoctl",
		Short: "Administer a Garo server through its portal API",
		Long: `garoctl administers a garo-server, the orchestrator of GitHub Actions self-hosted
runners, through its portal REST API (/api/v1).

The server URL comes from --server, else ` + EnvServer + `, else ` + DefaultServer + `.
The API token comes from --token-file, else ` + EnvToken + `. Answers are printed as
indented JSON.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	pf := root.PersistentFlags()
	pf.StringVar(&g.server, "server", serverDefault, "garo-server URL (env "+EnvServer+")")
	// The token is never a flag value: it would show in process listings and in --help.
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (default: env "+EnvToken+")")

	root.AddCommand(
		versionCommand(),
		whoamiCommand(g),
		policyCommand(g),
		groupCommand(g),
		jobCommand(g),
		agentCommand(g),
	)
	return root
}

func versionCommand() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version of garoctl",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, err := fmt.Fprintln(cmd.OutOrStdout(), version.Get().String())
			return err
		},
	}
}

// client builds an API client from the flags and the environment.
func (g *globals) client() (*client.Client, error) {
	token, err := g.token()
	if err != nil {
		return nil, err
	}
	return client.New(g.server, token)
}

func (g *globals) token() (string, error) {
	if g.tokenFile != "" {
		b, err := os.ReadFile(g.tokenFile)
		if err != nil {
			return "", fmt.Errorf("read token file: %w", err)
		}
		t := strings.TrimSpace(string(b))
		if t == "" {
			return "", fmt.Errorf("token file %s is empty", g.tokenFile)
		}
		return t, nil
	}
	if t, ok := g.env(EnvToken); ok && strings.TrimSpace(t) != "" {
		return strings.TrimSpace(t), nil
	}
	return "", errors.New("no API token: set " + EnvToken + " or pass --token-file")
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
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
			return printJSON(cmd.OutOrStdout(), w)
		},
	}
}

func policyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Inspect runner policies",
	}
	cmd.AddCommand(policyListCommand(g), policyGetCommand(g))
	return cmd
}

func policyListCommand(g *globals) *cobra.Command {
	var (
		opts    client.ListPoliciesOptions
		enabled string
		all     bool
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runner policies, one page or --all",
		Example: `  garoctl policy list --owner acme
  garoctl policy list --repository acme/web --enabled=false
  garoctl policy list --all`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if enabled != "" {
				b, err := strconv.ParseBool(enabled)
				if err != nil {
					return fmt.Errorf("--enabled must be true or false, not %q", enabled)
				}
				opts.Enabled = &b
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if !all {
				l, err := c.ListPolicies(cmd.Context(), opts)
				if err != nil {
					return err
				}
				return printJSON(cmd.OutOrStdout(), l)
			}
			l, err := collectPolicies(cmd.Context(), c, opts)
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), l)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Owner, "owner", "", "only policies of this repository owner")
	f.StringVar(&opts.Repository, "repository", "", "only policies of this repository (owner/name)")
	f.StringVar(&opts.AgentGroup, "agent-group", "", "only policies served by this agent group")
	f.StringVar(&enabled, "enabled", "", "only enabled (true) or disabled (false) policies")
	f.IntVar(&opts.Limit, "limit", 0, "page size, 1-500 (default: the server's, 100)")
	f.StringVar(&opts.Cursor, "cursor", "", "start at this page cursor (next_cursor of the previous page)")
	f.BoolVar(&all, "all", false, "follow next_cursor and print every page as one list")
	return cmd
}

// collectPolicies reads every page into one list (next_cursor empty).
func collectPolicies(ctx context.Context, c *client.Client, opts client.ListPoliciesOptions) (*portalapi.PolicyList, error) {
	l := &portalapi.PolicyList{Items: []portalapi.Policy{}}
	for p, err := range c.AllPolicies(ctx, opts) {
		if err != nil {
			return nil, err
		}
		l.Items = append(l.Items, p)
	}
	return l, nil
}

func policyGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:     "get OWNER/REPO NAME",
		Short:   "Show one runner policy",
		Example: "  garoctl policy get acme/web linux-small",
		Args:    cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.GetPolicy(cmd.Context(), args[0], args[1])
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), p)
		},
	}
}

func groupCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"agent-group"},
		Short:   "Inspect agent groups",
	}
	cmd.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List agent groups",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			l, err := c.ListAgentGroups(cmd.Context())
			if err != nil {
				return err
			}
			return printJSON(cmd.OutOrStdout(), l)
		},
	})
	return cmd
}
