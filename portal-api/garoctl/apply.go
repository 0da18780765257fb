package garoctl

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/portal-api/client"
)

// Actions of a plan step.
const (
	actCreate    = "created"
	actUpdate    = "configured"
	actUnchanged = "unchanged"
	actPrune     = "pruned"
)

// step is what apply does to one policy: the document wanted (nil when pruned), what the
// server holds (nil when new), and the version that was read for If-Match.
type step struct {
	action  string
	key     string
	repo    string
	name    string
	want    *policyDoc
	have    *policyDoc
	version int64
}

// applyFlags are the flags apply and diff share.
type applyFlags struct {
	files []string
	prune bool
	sel   selector
}

func (f *applyFlags) bind(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringArrayVarP(&f.files, "filename", "f", nil, "file or directory of kind: Policy YAML documents (directories recursively, - for standard input); repeatable")
	fl.BoolVar(&f.prune, "prune", false, "also delete policies in the selector's scope that the files no longer hold (needs --owner-prefix or --selector)")
	f.sel.bind(cmd)
	_ = cmd.MarkFlagRequired("filename")
	_ = cmd.MarkFlagFilename("filename", "yaml", "yml", "json")
}

// plan reads the files and plans them against the server: what apply and diff share.
func (f *applyFlags) plan(cmd *cobra.Command, g *globals) (*client.Client, []step, error) {
	docs, err := f.read(cmd)
	if err != nil {
		return nil, nil, err
	}
	c, err := g.client()
	if err != nil {
		return nil, nil, err
	}
	steps, err := plan(cmd.Context(), c, docs, f.prune, f.sel)
	if err != nil {
		return nil, nil, err
	}
	return c, steps, nil
}

// read reads and validates every document of every file before anything is sent.
func (f *applyFlags) read(cmd *cobra.Command) ([]policyDoc, error) {
	if f.prune && f.sel.empty() {
		return nil, usageError{errors.New("--prune needs a selector: --owner-prefix OWNER[/REPO-PREFIX] or --selector KEY=VALUE")}
	}
	if !f.prune && !f.sel.empty() {
		return nil, usageError{errors.New("--owner-prefix and --selector choose what --prune may delete; they need --prune")}
	}
	if err := f.sel.parse(); err != nil {
		return nil, err
	}
	var docs []policyDoc
	seen := map[string]string{}
	for _, path := range f.files {
		ds, err := readDocs(cmd, path)
		if err != nil {
			return nil, err
		}
		for _, d := range ds {
			if prev, ok := seen[d.key()]; ok {
				return nil, usageError{fmt.Errorf("policy %s is named twice (%s and %s)", d.key(), prev, path)}
			}
			seen[d.key()] = path
			if f.prune && !f.sel.matches(d.Repository, d.Name, orDefault(d.AgentGroup, "default"), d.Provider) {
				return nil, usageError{fmt.Errorf("policy %s of %s is outside the --prune selector (%s): a later apply would prune it", d.key(), path, f.sel)}
			}
		}
		docs = append(docs, ds...)
	}
	return docs, nil
}

// plan reads what the server holds for every document (and, with prune, every policy of
// the selector's scope) and decides each policy's step.
func plan(ctx context.Context, c *client.Client, docs []policyDoc, prune bool, sel selector) ([]step, error) {
	var steps []step
	want := map[string]bool{}
	for _, d := range docs {
		want[d.key()] = true
		s := step{key: d.key(), repo: d.Repository, name: d.Name}
		p, err := c.GetPolicy(ctx, d.Repository, d.Name)
		switch {
		case client.IsNotFound(err):
			w := d
			s.action, s.want = actCreate, &w
		case err != nil:
			return nil, fmt.Errorf("read policy %s: %w", d.key(), err)
		default:
			have := docOf(*p)
			w, err := overlay(have, d)
			if err != nil {
				return nil, usageError{fmt.Errorf("policy %s: %w", d.key(), err)}
			}
			s.have, s.want, s.version = &have, &w, p.Version
			s.action = actUpdate
			if w.render() == have.render() {
				s.action = actUnchanged
			}
		}
		steps = append(steps, s)
	}
	if !prune {
		return steps, nil
	}
	for p, err := range c.AllPolicies(ctx, sel.listOptions()) {
		if err != nil {
			return nil, fmt.Errorf("list policies to prune: %w", err)
		}
		key := p.Repository + "/" + p.Name
		if want[key] || !sel.matches(p.Repository, p.Name, p.AgentGroup, p.Provider) {
			continue
		}
		have := docOf(p)
		steps = append(steps, step{action: actPrune, key: key, repo: p.Repository, name: p.Name, have: &have, version: p.Version})
	}
	return steps, nil
}

// overlay is have with every field d names replaced by d's value: what apply sends.
func overlay(have, d policyDoc) (policyDoc, error) {
	hb, err := json.Marshal(have)
	if err != nil {
		return d, err
	}
	var m map[string]any
	if err := json.Unmarshal(hb, &m); err != nil {
		return d, err
	}
	merge(m, d.fields)
	mb, err := json.Marshal(m)
	if err != nil {
		return d, err
	}
	var out policyDoc
	dec := json.NewDecoder(bytes.NewReader(mb))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&out); err != nil {
		return d, err
	}
	if out.Labels == nil {
		out.Labels = []string{}
	}
	return out, nil
}

// merge writes src over dst, recursing into objects both hold; lists and scalars replace.
func merge(dst, src map[string]any) {
	for k, v := range src {
		sm, sok := v.(map[string]any)
		dm, dok := dst[k].(map[string]any)
		if sok && dok {
			merge(dm, sm)
			continue
		}
		dst[k] = v
	}
}

// execute carries out steps in order, each write with If-Match of the version read. It
// stops at the first failure, saying what was done before it.
func execute(ctx context.Context, c *client.Client, w io.Writer, steps []step) error {
	for _, s := range steps {
		var err error
		switch s.action {
		case actCreate:
			_, err = c.CreatePolicy(ctx, s.repo, s.want.PolicyRequest)
			if client.IsConflict(err) {
				err = fmt.Errorf("policy %s was created by someone else since it was read; run apply again: %w", s.key, err)
			}
		case actUpdate:
			_, err = c.ReplacePolicy(ctx, s.repo, s.name, s.want.PolicyRequest, client.ETag(s.version))
			err = explainConflict(ctx, c, s.repo, s.name, s.version, err)
		case actPrune:
			err = c.DeletePolicy(ctx, s.repo, s.name, client.ETag(s.version))
			if client.IsNotFound(err) {
				err = nil
			}
			err = explainConflict(ctx, c, s.repo, s.name, s.version, err)
		}
		if err != nil {
			return fmt.Errorf("policy %s: %w", s.key, err)
		}
		if _, err := fmt.Fprintf(w, "policy %s %s\n", s.key, s.action); err != nil {
			return err
		}
	}
	return nil
}

func applyCommand(g *globals) *cobra.Command {
	var (
		f      applyFlags
		dryRun bool
	)
	cmd := &cobra.Command{
		Use:   "apply -f FILE|DIR",
		Short: "Make the server's policies what YAML files say (create, update, optionally prune)",
		Long: `apply reads every kind: Policy document of the files ("-" is standard input; a
directory is read recursively for *.yaml, *.yml and *.json; a file may hold several
documents separated by ---), validates them all, then creates the policies that do not
exist and replaces those that differ. A field a document leaves out keeps the value the
server holds. Each replacement carries If-Match with the version that was read, so a
change made meanwhile by someone else fails with a conflict instead of being overwritten.

A second apply of the same files changes nothing and prints "unchanged" for each policy.
"garoctl policy get OWNER/REPO NAME -o yaml" prints a document apply takes.

With --prune, policies in the scope of the selector (--owner-prefix or --selector) that
no file holds are deleted; a document outside the selector is an error. With --dry-run
nothing is written: apply prints what it would do, marked "(dry run)".`,
		Example: `  garoctl apply -f policies/
  garoctl apply -f policies/ --prune --owner-prefix acme/team-a
  garoctl apply -f policies/ --prune --selector repository=acme/* --dry-run
  garoctl policy get acme/web linux-small -o yaml | garoctl apply -f -`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, steps, err := f.plan(cmd, g)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if dryRun {
				for _, s := range steps {
					mark := " (dry run)"
					if s.action == actUnchanged {
						mark = ""
					}
					if _, err := fmt.Fprintf(out, "policy %s %s%s\n", s.key, s.action, mark); err != nil {
						return err
					}
				}
				return nil
			}
			if g.io.BeforeApply != nil {
				if err := g.io.BeforeApply(cmd.Context()); err != nil {
					return err
				}
			}
			return execute(cmd.Context(), c, out, steps)
		},
	}
	f.bind(cmd)
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "write nothing; print what apply would do")
	return cmd
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
