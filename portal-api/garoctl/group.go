package garoctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/cobra"

	portalapi "github.com/garo-dev/garo/portal-api"
)

func groupCommand(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "group",
		Aliases: []string{"groups", "agent-group"},
		Short:   "Manage agent groups: which agents serve which policies",
	}
	cmd.AddCommand(groupListCommand(g), groupGetCommand(g), groupCreateCommand(g),
		groupSetCommand(g), groupDeleteCommand(g))
	return cmd
}

func groupTable(items []portalapi.AgentGroup) table {
	t := table{
		head:     []string{"NAME", "OWNER PREFIXES", "POLICIES", "DESCRIPTION"},
		wideHead: []string{"CONSTRAINTS", "CREATED"},
	}
	for _, gr := range items {
		cons := "-"
		if b, err := json.Marshal(gr.Constraints); err == nil && string(b) != "{}" && string(b) != "null" {
			cons = string(b)
		}
		t.rows = append(t.rows, []string{gr.Name, join(gr.OwnerPrefixes), strconv.FormatInt(gr.PolicyCount, 10), orDash(gr.Description)})
		t.wideRows = append(t.wideRows, []string{cons, stamp(gr.CreatedAt)})
	}
	return t
}

func groupListCommand(g *globals) *cobra.Command {
	return &cobra.Command{
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
			return g.print(cmd, l, groupTable(l.Items))
		},
	}
}

func groupGetCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "get NAME",
		Short:             "Show one agent group",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			gr, err := c.GetAgentGroup(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return g.print(cmd, gr, groupTable([]portalapi.AgentGroup{*gr}))
		},
	}
}

// readConstraints reads a YAML (or JSON) file of agent group constraints; unknown
// fields are an error.
func readConstraints(path string) (*portalapi.AgentGroupConstraints, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, configError{fmt.Errorf("read constraints: %w", err)}
	}
	j, err := yamlToJSON(b)
	if err != nil {
		return nil, usageError{fmt.Errorf("%s: not YAML: %w", path, err)}
	}
	var cons portalapi.AgentGroupConstraints
	dec := json.NewDecoder(bytes.NewReader(j))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&cons); err != nil {
		return nil, usageError{fmt.Errorf("%s: %w", path, err)}
	}
	return &cons, nil
}

func groupCreateCommand(g *globals) *cobra.Command {
	var (
		req   portalapi.AgentGroupRequest
		cfile string
	)
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create an agent group",
		Long: `create makes an agent group. --owner-prefix (repeatable) limits the repositories
whose policies the group may serve; --constraints-file sets the ceilings its policies must
stay within (a YAML document of the constraints object of the API).`,
		Example: `  garoctl group create gpu --description "GPU runners" --owner-prefix acme
  garoctl group create build --constraints-file build-limits.yaml`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req.Name = args[0]
			if cfile != "" {
				cons, err := readConstraints(cfile)
				if err != nil {
					return err
				}
				req.Constraints = cons
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			gr, err := c.CreateAgentGroup(cmd.Context(), req)
			if err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "agent group %s created\n", gr.Name)
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&req.Description, "description", "", "what the group is for")
	f.StringSliceVar(&req.OwnerPrefixes, "owner-prefix", nil, "only repositories whose owner starts with this (repeatable)")
	f.StringVar(&cfile, "constraints-file", "", "YAML file of the group's constraints")
	return cmd
}

func groupSetCommand(g *globals) *cobra.Command {
	var (
		desc, cfile string
		prefixes    []string
	)
	cmd := &cobra.Command{
		Use:               "set NAME",
		Short:             "Change an agent group's description, owner prefixes or constraints",
		Example:           "  garoctl group set gpu --owner-prefix acme --owner-prefix acme-labs",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			var patch portalapi.AgentGroupPatch
			f := cmd.Flags()
			if f.Changed("description") {
				patch.Description = &desc
			}
			if f.Changed("owner-prefix") {
				patch.OwnerPrefixes = &prefixes
			}
			if cfile != "" {
				cons, err := readConstraints(cfile)
				if err != nil {
					return err
				}
				patch.Constraints = cons
			}
			if patch.Description == nil && patch.OwnerPrefixes == nil && patch.Constraints == nil {
				return usageError{fmt.Errorf("set needs --description, --owner-prefix or --constraints-file")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			if _, err := c.UpdateAgentGroup(cmd.Context(), args[0], patch); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "agent group %s updated\n", args[0])
			return err
		},
	}
	f := cmd.Flags()
	f.StringVar(&desc, "description", "", "new description")
	f.StringSliceVar(&prefixes, "owner-prefix", nil, "new owner prefixes (repeatable; --owner-prefix= clears them)")
	f.StringVar(&cfile, "constraints-file", "", "YAML file of the group's new constraints")
	return cmd
}

func groupDeleteCommand(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "delete NAME",
		Short:             "Delete an agent group no policy names",
		Args:              cobra.ExactArgs(1),
		ValidArgsFunction: g.completeGroups,
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			if err := c.DeleteAgentGroup(cmd.Context(), args[0]); err != nil {
				return err
			}
			_, err = fmt.Fprintf(cmd.OutOrStdout(), "agent group %s deleted\n", args[0])
			return err
		},
	}
}
