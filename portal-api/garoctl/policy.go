package garoctl

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/portal-api/client"
)

func policyCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "policy",
		Aliases: []string{"policies"},
		Short:   "Manage runner policies",
	}
	cmd.AddCommand(policyListCommand(g), policyGetCommand(g), policyCreateCommand(g),
		policyEditCommand(g), policyDeleteCommand(g))
	return cmd
}

func policyTable(items []portalapi.Policy) table {
	t := table{
		head:     []string{"REPOSITORY", "NAME", "LABELS", "MIN", "MAX", "GROUP", "ENABLED", "SERVING"},
		wideHead: []string{"PROVIDER", "IMAGE", "VERSION", "UPDATED"},
	}
	for _, p := range items {
		serving := "-"
		if p.Serving != nil {
			serving = p.Serving.State
		}
		t.rows = append(t.rows, []string{p.Repository, p.Name, join(p.Labels), strconv.Itoa(p.MinIdle),
			strconv.Itoa(p.MaxRunners), p.AgentGroup, strconv.FormatBool(p.Enabled), serving})
		t.wideRows = append(t.wideRows, []string{p.Provider, orDash(p.Runner.Image), strconv.FormatInt(p.Version, 10), stamp(p.UpdatedAt)})
	}
	return t
}

func policyListCommand(g *globals) *cobra.Command {
	var (
		opts    client.ListPoliciesOptions
		enabled string
		all     bool
		w       watchFlags
	)
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List runner policies, one page or --all",
		Example: `  garoctl policy list --owner acme
  garoctl policy list --repository acme/web --enabled=false -o wide
  garoctl policy list --all -o json
  garoctl policy list --watch`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if enabled != "" {
				b, err := strconv.ParseBool(enabled)
				if err != nil {
					return usageError{fmt.Errorf("--enabled must be true or false, not %q", enabled)}
				}
				opts.Enabled = &b
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			return g.listOrWatch(cmd, w, func(ctx context.Context) (frame, error) {
				l := &portalapi.PolicyList{Items: []portalapi.Policy{}}
				if all {
					for p, err := range c.AllPolicies(ctx, opts) {
						if err != nil {
							return frame{}, err
						}
						l.Items = append(l.Items, p)
					}
				} else if l, err = c.ListPolicies(ctx, opts); err != nil {
					return frame{}, err
				}
				return frame{l, policyTable(l.Items)}, nil
			})
		},
	}
	w.bind(cmd)
	f := cmd.Flags()
	f.StringVar(&opts.Owner, "owner", "", "only policies of this repository owner")
	f.StringVar(&opts.Repository, "repository", "", "only policies of this repository (owner/name)")
	f.StringVar(&opts.AgentGroup, "agent-group", "", "only policies served by this agent group")
	f.StringVar(&enabled, "enabled", "", "only enabled (true) or disabled (false) policies")
	f.IntVar(&opts.Limit, "limit", 0, "page size, 1-500 (default: the server's, 100)")
	f.StringVar(&opts.Cursor, "cursor", "", "start at this page cursor (next_cursor of the previous page)")
	f.BoolVar(&all, "all", false, "follow next_cursor and print every page as one list")
	_ = cmd.RegisterFlagCompletionFunc("agent-group", g.completeGroups)
	_ = cmd.RegisterFlagCompletionFunc("repository", g.completeRepoFlag)
	return cmd
}

// policyArgs reads OWNER/REPO NAME, or OWNER/REPO/NAME.
func policyArgs(args []string) (repo, name string, err error) {
	switch len(args) {
	case 2:
		return args[0], args[1], nil
	case 1:
		if i := strings.LastIndex(args[0], "/"); i > 0 && strings.Count(args[0], "/") == 2 {
			return args[0][:i], args[0][i+1:], nil
		}
	}
	return "", "", usageError{errors.New("name a policy as OWNER/REPO NAME (or OWNER/REPO/NAME)")}
}

func policyGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "get OWNER/REPO NAME",
		Short: "Show one runner policy (-o yaml prints a document apply -f and policy create -f take)",
		Example: `  garoctl policy get acme/web linux-small
  garoctl policy get acme/web/linux-small -o yaml > linux-small.yaml`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completePolicies,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, name, err := policyArgs(args)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.GetPolicy(cmd.Context(), repo, name)
			if err != nil {
				return err
			}
			return g.print(cmd, docOf(*p), policyTable([]portalapi.Policy{*p}))
		},
	}
}

func policyCreateCommand(g *globals) *cobra.Command {
	var file string
	cmd := &cobra.Command{
		Use:   "create -f FILE",
		Short: "Create runner policies from a YAML file (kind: Policy documents)",
		Long: `create makes every policy of FILE ("-" reads standard input) and fails on one that
exists already (change one with policy edit).`,
		Example: "  garoctl policy create -f linux-small.yaml",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			docs, err := readDocs(cmd, file)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			for _, d := range docs {
				if _, err := c.CreatePolicy(cmd.Context(), d.Repository, d.PolicyRequest); err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "policy %s created\n", d.key())
			}
			return nil
		},
	}
	cmd.Flags().StringVarP(&file, "filename", "f", "", "YAML file of kind: Policy documents, or - for standard input")
	_ = cmd.MarkFlagRequired("filename")
	return cmd
}

func policyDeleteCommand(g *globals) *cobra.Command {
	var ifVersion int64
	cmd := &cobra.Command{
		Use:               "delete OWNER/REPO NAME",
		Short:             "Delete a runner policy",
		Example:           "  garoctl policy delete acme/web linux-small --if-version 3",
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completePolicies,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, name, err := policyArgs(args)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			etag := ""
			if ifVersion > 0 {
				etag = client.ETag(ifVersion)
			}
			if err := c.DeletePolicy(cmd.Context(), repo, name, etag); err != nil {
				return explainConflict(cmd.Context(), c, repo, name, ifVersion, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s/%s deleted\n", repo, name)
			return err
		},
	}
	cmd.Flags().Int64Var(&ifVersion, "if-version", 0, "delete only if the policy is still at this version")
	return cmd
}

func policyEditCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "edit OWNER/REPO NAME",
		Short: "Edit a runner policy as YAML in $EDITOR",
		Long: `edit writes the policy's YAML document to a temporary file, opens $VISUAL or $EDITOR
(else vi) on it and replaces the policy with what was saved, with If-Match set to the
version that was read: when someone changed the policy meanwhile the server refuses
(412) and garoctl says who, from the audit trail.`,
		Args:              cobra.RangeArgs(1, 2),
		ValidArgsFunction: g.completePolicies,
		RunE: func(cmd *cobra.Command, args []string) error {
			repo, name, err := policyArgs(args)
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			p, err := c.GetPolicy(cmd.Context(), repo, name)
			if err != nil {
				return err
			}
			before := docOf(*p).render()
			dir, err := os.MkdirTemp("", "garoctl-edit-")
			if err != nil {
				return fmt.Errorf("edit: %w", err)
			}
			defer os.RemoveAll(dir)
			path := filepath.Join(dir, name+".yaml")
			if err := os.WriteFile(path, []byte(before), 0o600); err != nil {
				return fmt.Errorf("edit: %w", err)
			}
			if err := g.edit(cmd.Context(), path); err != nil {
				return err
			}
			after, err := os.ReadFile(path)
			if err != nil {
				return fmt.Errorf("edit: %w", err)
			}
			d, err := parsePolicyDoc(path, after)
			if err != nil {
				return usageError{err}
			}
			d = d.fillFrom(docOf(*p))
			if d.render() == before {
				_, err := fmt.Fprintln(cmd.OutOrStdout(), "Edit cancelled, no changes made.")
				return err
			}
			if d.Repository != repo || d.Name != name {
				return usageError{errors.New("edit cannot rename a policy or move it to another repository")}
			}
			np, err := c.ReplacePolicy(cmd.Context(), repo, name, d.PolicyRequest, client.ETag(p.Version))
			if err != nil {
				return explainConflict(cmd.Context(), c, repo, name, p.Version, err)
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "policy %s/%s edited (version %d)\n", repo, name, np.Version)
			return err
		},
	}
}

// edit runs the editor of the IO, else $VISUAL, $EDITOR or vi, on path.
func (g *globals) edit(ctx context.Context, path string) error {
	if g.io.Editor != nil {
		return g.io.Editor(ctx, path)
	}
	editor := "vi"
	for _, k := range []string{"VISUAL", "EDITOR"} {
		if v, ok := g.env(k); ok && strings.TrimSpace(v) != "" {
			editor = v
			break
		}
	}
	parts := strings.Fields(editor)
	cmd := exec.CommandContext(ctx, parts[0], append(parts[1:], path)...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		return configError{fmt.Errorf("editor %s: %w", parts[0], err)}
	}
	return nil
}

// explainConflict turns a 412 into a message naming who changed the policy since it was
// read, when the audit trail (admin scope) can tell.
func explainConflict(ctx context.Context, c *client.Client, repo, name string, read int64, err error) error {
	if !client.IsPreconditionFailed(err) {
		return err
	}
	msg := fmt.Sprintf("policy %s/%s was changed by someone else since it was read (version %d)", repo, name, read)
	l, aerr := c.ListAuditEvents(ctx, client.AuditQuery{ResourceType: "policy", Repository: repo, Limit: 50})
	if aerr == nil {
		for _, e := range l.Items {
			if e.ResourceID == repo+"/"+name || strings.HasSuffix(e.ResourceID, "/"+name) {
				msg += fmt.Sprintf(": last %s by %s at %s", e.Action, e.Actor, stamp(e.Time))
				break
			}
		}
	}
	return fmt.Errorf("%s; read it again and retry: %w", msg, err)
}
