package garoctl

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// Exit codes of garoctl diff, as kubectl diff's: 0 no change, 1 changes, above 1 an error.
const (
	ExitDiffChanges = 1 // diff found changes
	ExitDiffFailed  = 3 // the server said no (or could not be reached) during diff
)

// errChanges is diff's result when apply would change something (exit 1).
var errChanges = errors.New("apply would change policies")

// diffFailed marks an error of diff itself, so that it does not exit 1 (which means changes).
type diffFailed struct{ error }

func (e diffFailed) Unwrap() error { return e.error }

func diffCommand(g *globals) *cobra.Command {
	var f applyFlags
	cmd := &cobra.Command{
		Use:   "diff -f FILE|DIR",
		Short: "Show what apply would change, as a unified diff per policy",
		Long: `diff reads the files as apply does and prints, for every policy apply would create,
replace or (with --prune) delete, a unified diff from what the server holds (---) to what
apply would send (+++). Nothing is written.

Exit codes, as kubectl diff's: 0 nothing would change, 1 something would change, 2 usage or
configuration error (a bad document), 3 the server said no or could not be reached.`,
		Example: `  garoctl diff -f policies/
  garoctl diff -f policies/ --prune --owner-prefix acme/team-a || echo "changes pending"`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			_, steps, err := f.plan(cmd, g)
			if err != nil {
				// Usage and configuration errors (bad flags, unreadable files) still exit 2:
				// ExitCode checks for them before diffFailed.
				return diffFailed{err}
			}
			changed := false
			for _, s := range steps {
				if s.action == actUnchanged {
					continue
				}
				changed = true
				if err := writeDiff(cmd.OutOrStdout(), s); err != nil {
					return err
				}
			}
			if changed {
				return errChanges
			}
			return nil
		},
	}
	f.bind(cmd)
	return cmd
}

// writeDiff prints the unified diff of one step.
func writeDiff(w io.Writer, s step) error {
	from, to := "", ""
	fromName, toName := "server/"+s.key, "apply/"+s.key
	if s.have != nil {
		from = s.have.render()
	} else {
		fromName = "/dev/null"
	}
	if s.want != nil {
		to = s.want.render()
	} else {
		toName = "/dev/null"
	}
	_, err := io.WriteString(w, unifiedDiff(fromName, toName, splitLines(from), splitLines(to), 3))
	return err
}

func splitLines(s string) []string {
	if s == "" {
		return nil
	}
	return strings.SplitAfter(strings.TrimSuffix(s, "\n"), "\n")
}

// unifiedDiff is the unified diff of a and b with ctx lines of context (a longest common
// subsequence of lines; policy documents are short).
func unifiedDiff(aName, bName string, a, b []string, ctx int) string {
	// lcs[i][j] is the length of the LCS of a[i:] and b[j:].
	lcs := make([][]int, len(a)+1)
	for i := range lcs {
		lcs[i] = make([]int, len(b)+1)
	}
	for i := len(a) - 1; i >= 0; i-- {
		for j := len(b) - 1; j >= 0; j-- {
			if strings.TrimSuffix(a[i], "\n") == strings.TrimSuffix(b[j], "\n") {
				lcs[i][j] = lcs[i+1][j+1] + 1
			} else {
				lcs[i][j] = max(lcs[i+1][j], lcs[i][j+1])
			}
		}
	}
	type line struct {
		op   byte
		text string
		ai   int // index in a of this line (or of the next a line)
		bi   int
	}
	var lines []line
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		switch {
		case i < len(a) && j < len(b) && strings.TrimSuffix(a[i], "\n") == strings.TrimSuffix(b[j], "\n"):
			lines = append(lines, line{' ', a[i], i, j})
			i, j = i+1, j+1
		case i < len(a) && (j == len(b) || lcs[i+1][j] >= lcs[i][j+1]):
			lines = append(lines, line{'-', a[i], i, j})
			i++
		default:
			lines = append(lines, line{'+', b[j], i, j})
			j++
		}
	}
	var out strings.Builder
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", aName, bName)
	for k := 0; k < len(lines); {
		if lines[k].op == ' ' {
			k++
			continue
		}
		start := max(0, k-ctx)
		end := k
		for end < len(lines) {
			if lines[end].op != ' ' {
				end++
				continue
			}
			run := end
			for run < len(lines) && lines[run].op == ' ' {
				run++
			}
			if run-end > 2*ctx || run == len(lines) {
				end = min(end+ctx, len(lines))
				break
			}
			end = run
		}
		na, nb := 0, 0
		for _, l := range lines[start:end] {
			if l.op != '+' {
				na++
			}
			if l.op != '-' {
				nb++
			}
		}
		fmt.Fprintf(&out, "@@ -%s +%s @@\n", hunkRange(lines[start].ai, na), hunkRange(lines[start].bi, nb))
		for _, l := range lines[start:end] {
			out.WriteByte(l.op)
			out.WriteString(strings.TrimSuffix(l.text, "\n"))
			out.WriteByte('\n')
		}
		k = end
	}
	return out.String()
}

func hunkRange(start, n int) string {
	if n == 0 {
		return fmt.Sprintf("%d,0", start)
	}
	return fmt.Sprintf("%d,%d", start+1, n)
}
