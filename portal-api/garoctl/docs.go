package garoctl

//go:generate go run ./gendocs -out ../../docs/cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra/doc"
)

// docsHeader opens every generated page.
const docsHeader = "<!-- Generated from garoctl's command tree by `make docs` (go generate ./portal-api/garoctl); do not edit. The overview is ../cli.md. -->\n\n"

// GenerateDocs writes the Markdown reference of every garoctl command into dir (one page
// per command, garoctl.md the root), removing pages of commands that no longer exist.
func GenerateDocs(dir string) error {
	root := NewCommand(nil, IO{})
	root.DisableAutoGenTag = true
	root.InitDefaultCompletionCmd()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	old, err := filepath.Glob(filepath.Join(dir, "garoctl*.md"))
	if err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	for _, f := range old {
		if err := os.Remove(f); err != nil {
			return fmt.Errorf("docs: %w", err)
		}
	}
	prepend := func(string) string { return docsHeader }
	link := func(name string) string { return strings.ToLower(name) }
	if err := doc.GenMarkdownTreeCustom(root, dir, prepend, link); err != nil {
		return fmt.Errorf("docs: %w", err)
	}
	return nil
}
