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
