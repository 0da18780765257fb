// Package bench is `make bench`: it runs the load harness's scenarios (package load), the
// micro-benchmarks of the server and the agent (go test -bench) and the demo's single job
// and burst on the local Docker engine (package demo), and prints every figure of the one
// run in one table beside its target (issue 15) and, where one exists, an anchor: a peer's
// or plain Docker's figure. It compares nothing: the figures are printed, never checked.
package bench

import (
	"fmt"
	"io"
	"math"
	"strings"
)

// Figure is one row of the table.
type Figure struct {
	Name     string
	Unit     string
	Measured float64 // NaN: not measured (Note says why)
	Target   string  // e.g. "≤ 20"; "" for none
	Anchor   string  // e.g. "GARM 7,300–38,000 (measured)"; "" for none
	Note     string
}

// Table is the figures of one run, in order.
type Table struct {
	Title   string
	Figures []Figure
}

// Add appends a figure.
func (t *Table) Add(f Figure) { t.Figures = append(t.Figures, f) }

// Missing appends a figure that could not be measured, and why.
func (t *Table) Missing(name, unit, target, why string) {
	t.Add(Figure{Name: name, Unit: unit, Measured: math.NaN(), Target: target, Note: why})
}

// Print writes the table as Markdown, so that it pastes into docs and issue notes.
func (t *Table) Print(w io.Writer) {
	if t.Title != "" {
		fmt.Fprintf(w, "%s\n\n", t.Title)
	}
	fmt.Fprintln(w, "| figure | unit | measured | target | anchor | note |")
	fmt.Fprintln(w, "|---|---|---:|---|---|---|")
	for _, f := range t.Figures {
		m := "—"
		if !math.IsNaN(f.Measured) {
			m = format(f.Measured)
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s |\n", f.Name, f.Unit, m, dash(f.Target), dash(f.Anchor), f.Note)
	}
}

func format(v float64) string {
	switch a := math.Abs(v); {
	case a >= 100:
		return fmt.Sprintf("%.0f", v)
	case a >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func dash(s string) string {
	if strings.TrimSpace(s) == "" {
		return "—"
	}
	return s
}
