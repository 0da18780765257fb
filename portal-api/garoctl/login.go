package garoctl

import (
	"errors"
	"fmt"
	"net/url"

	"github.com/spf13/cobra"
)

func loginCommand(g *globals) *cobra.Command {
	var name string
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Check a server and token, and save them as a context of the configuration file",
		Long: `login asks the server who the token is (GET /api/v1/whoami) and, when it answers,
saves the server, the token and the TLS settings as a named context of the configuration
file (mode 0600) and makes it the current context. The token comes from --token-file, else
` + EnvToken + `; it is never a flag value.`,
		Example: `  garoctl login --server https://garo.example.com --token-file ~/garo-admin.token
  GARO_TOKEN=... garoctl login --server https://garo.example.com --name prod --ca-file ca.pem`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if g.server == "" {
				return usageError{errors.New("login needs --server")}
			}
			ctx, err := g.resolve()
			if err != nil {
				return err
			}
			if ctx.Token == "" {
				return configError{errors.New("no API token: pass --token-file or set " + EnvToken)}
			}
			if name == "" {
				u, err := url.Parse(ctx.Server)
				if err != nil || u.Host == "" {
					return usageError{fmt.Errorf("--server must be a URL like https://garo.example.com")}
				}
				name = u.Host
			}
			ctx.Name = name
			c, err := g.clientFor(ctx)
			if err != nil {
				return err
			}
			who, err := c.WhoAmI(cmd.Context())
			if err != nil {
				return err
			}
			cfg, path, err := g.loadConfig()
			if err != nil {
				return err
			}
			cfg.put(ctx)
			cfg.CurrentContext = name
			if err := saveConfig(cfg, path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Logged in to %s as token %q (scopes %s); context %q saved in %s\n",
				ctx.Server, who.Name, join(who.Scopes), name, path)
			return err
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "name of the context (default: the server's host:port)")
	return cmd
}

func contextCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "context",
		Short: "List, switch and delete the contexts of the configuration file",
	}
	names := func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		cfg, _, err := g.loadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var n []string
		for _, c := range cfg.Contexts {
			n = append(n, c.Name)
		}
		return n, cobra.ShellCompDirectiveNoFileComp
	}
	list := &cobra.Command{
		Use:   "list",
		Short: "List the contexts; * marks the current one",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, _, err := g.loadConfig()
			if err != nil {
				return err
			}
			t := table{head: []string{"CURRENT", "NAME", "SERVER", "TLS"}}
			views := make([]map[string]any, 0, len(cfg.Contexts))
			for _, c := range cfg.Contexts {
				cur := ""
				if c.Name == cfg.CurrentContext {
					cur = "*"
				}
				t.rows = append(t.rows, []string{cur, c.Name, c.Server, tlsSummary(c)})
				views = append(views, map[string]any{"name": c.Name, "server": c.Server, "current": cur == "*", "tls": tlsSummary(c)})
			}
			return g.print(cmd, views, t)
		},
	}
	use := &cobra.Command{
		Use:               "use NAME",
		Short:             "Make NAME the current context",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.find(args[0]) == nil {
				return configError{fmt.Errorf("no context %q in %s", args[0], path)}
			}
			cfg.CurrentContext = args[0]
			if err := saveConfig(cfg, path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Switched to context %q\n", args[0])
			return err
		},
	}
	del := &cobra.Command{
		Use:               "delete NAME",
		Short:             "Delete a context (and the token it holds) from the configuration file",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: names,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, path, err := g.loadConfig()
			if err != nil {
				return err
			}
			if !cfg.remove(args[0]) {
				return configError{fmt.Errorf("no context %q in %s", args[0], path)}
			}
			if err := saveConfig(cfg, path); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "Deleted context %q\n", args[0])
			return err
		},
	}
	cmd.AddCommand(list, use, del)
	return cmd
}

func tlsSummary(c Context) string {
	switch {
	case c.InsecureSkipVerify:
		return "insecure"
	case c.CertFile != "":
		return "mtls"
	case c.CAFile != "":
		return "ca"
	}
	return "-"
}
