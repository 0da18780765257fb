package garoctl

import (
	"context"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/portal-api/client"
)

// completionTimeout bounds the server call behind one shell completion.
const completionTimeout = 3 * time.Second

// completeWith runs list against the server for a shell completion; an error (no
// server, no token) completes nothing rather than failing the shell.
func (g *globals) completeWith(cmd *cobra.Command, list func(ctx context.Context, c *client.Client) ([]string, error)) ([]string, cobra.ShellCompDirective) {
	c, err := g.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx := cmd.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	ctx, cancel := context.WithTimeout(ctx, completionTimeout)
	defer cancel()
	names, err := list(ctx, c)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return names, cobra.ShellCompDirectiveNoFileComp
}

// completeGroups completes agent group names.
func (g *globals) completeGroups(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		l, err := c.ListAgentGroups(ctx)
		if err != nil {
			return nil, err
		}
		var n []string
		for _, gr := range l.Items {
			n = append(n, gr.Name)
		}
		return n, nil
	})
}

// completeAgents completes agent ids, each with its name as the description.
func (g *globals) completeAgents(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		l, err := c.ListAgents(ctx, client.AgentQuery{})
		if err != nil {
			return nil, err
		}
		var n []string
		for _, a := range l.Items {
			n = append(n, a.ID+"\t"+a.Name+" ("+a.Status+")")
		}
		return n, nil
	})
}

// completePolicies completes OWNER/REPO/NAME of the first argument, and NAME after an
// OWNER/REPO.
func (g *globals) completePolicies(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 1 || (len(args) == 1 && strings.Count(args[0], "/") != 1) {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		opts := client.ListPoliciesOptions{}
		if len(args) == 1 {
			opts.Repository = args[0]
		} else if i := strings.Index(toComplete, "/"); i > 0 {
			opts.Owner = toComplete[:i]
		}
		var n []string
		for p, err := range c.AllPolicies(ctx, opts) {
			if err != nil {
				return nil, err
			}
			if len(args) == 1 {
				n = append(n, p.Name)
			} else {
				n = append(n, p.Repository+"/"+p.Name)
			}
			if len(n) >= 500 {
				break
			}
		}
		return n, nil
	})
}

// completionCap bounds how many names one completion reads from the server.
const completionCap = 500

// policyNames lists distinct values of each policy (repositories, names), at most
// completionCap of them.
func policyNames(ctx context.Context, c *client.Client, opts client.ListPoliciesOptions, of func(repo, name string) string) ([]string, error) {
	seen := map[string]bool{}
	var n []string
	for p, err := range c.AllPolicies(ctx, opts) {
		if err != nil {
			return nil, err
		}
		if v := of(p.Repository, p.Name); !seen[v] {
			seen[v] = true
			n = append(n, v)
		}
		if len(n) >= completionCap {
			break
		}
	}
	return n, nil
}

// completeRepos completes the first argument with OWNER/REPO of the repositories that
// have policies (what the token may read).
func (g *globals) completeRepos(cmd *cobra.Command, args []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeRepoFlag(cmd, args, toComplete)
}

// completeRepoFlag completes a repository flag's value like completeRepos.
func (g *globals) completeRepoFlag(cmd *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		opts := client.ListPoliciesOptions{}
		if i := strings.Index(toComplete, "/"); i > 0 {
			opts.Owner = toComplete[:i]
		}
		return policyNames(ctx, c, opts, func(repo, _ string) string { return repo })
	})
}

// completePolicyNameFlag completes a --policy value: policy names, of the repository in
// the first argument when there is one.
func (g *globals) completePolicyNameFlag(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		opts := client.ListPoliciesOptions{}
		if len(args) == 1 {
			opts.Repository = args[0]
		}
		return policyNames(ctx, c, opts, func(_, name string) string { return name })
	})
}

// completeTokens completes API token ids, each with its name as the description.
func (g *globals) completeTokens(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		l, err := c.ListTokens(ctx)
		if err != nil {
			return nil, err
		}
		var n []string
		for _, t := range l.Items {
			n = append(n, t.ID+"\t"+t.Name)
		}
		return n, nil
	})
}

// completeRegTokens completes the registration token ids of the --group flag's group.
func (g *globals) completeRegTokens(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	group, _ := cmd.Flags().GetString("group")
	return g.completeWith(cmd, func(ctx context.Context, c *client.Client) ([]string, error) {
		l, err := c.ListRegistrationTokens(ctx, group)
		if err != nil {
			return nil, err
		}
		var n []string
		for _, t := range l.Items {
			n = append(n, t.ID+"\t"+orDash(t.Description))
		}
		return n, nil
	})
}

// completeSelector completes --selector KEY= (the value is the user's pattern).
func completeSelector(_ *cobra.Command, _ []string, toComplete string) ([]string, cobra.ShellCompDirective) {
	if strings.Contains(toComplete, "=") {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var n []string
	for _, k := range selectorKeys {
		n = append(n, k+"=")
	}
	return n, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveNoSpace
}
