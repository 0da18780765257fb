package garoctl

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"gopkg.in/yaml.v3"
)

// table is what a command prints by default: head and rows; wide adds columns for -o wide.
type table struct {
	head, wideHead []string
	rows, wideRows [][]string
	// after are lines printed below the columns (a job's timeline).
	after []string
	// ticking are the columns (indexes into head) that change with the clock alone, such
	// as an age: --watch without a terminal does not take them for a change of the row.
	ticking []int
}

// print writes v as -o asks: JSON or YAML of the API object, else t as aligned columns.
func (g *globals) print(cmd *cobra.Command, v any, t table) error {
	return writeOutput(cmd.OutOrStdout(), g.output, v, t)
}

func writeOutput(w io.Writer, format string, v any, t table) error {
	switch format {
	case "json":
		return printJSON(w, v)
	case "yaml":
		return printYAML(w, v)
	case "", "table":
		return t.write(w, false)
	case "wide":
		return t.write(w, true)
	}
	return usageError{fmt.Errorf("-o must be table, wide, json or yaml, not %q", format)}
}

func (t table) write(w io.Writer, wide bool) error {
	tw := tabwriter.NewWriter(w, 0, 0, 3, ' ', 0)
	head := t.head
	if wide {
		head = append(append([]string{}, head...), t.wideHead...)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for i, r := range t.rows {
		if wide && i < len(t.wideRows) {
			r = append(append([]string{}, r...), t.wideRows[i]...)
		}
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, l := range t.after {
		if _, err := fmt.Fprintln(w, l); err != nil {
			return err
		}
	}
	return nil
}

// printJSON writes v as indented JSON.
func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printYAML writes v as YAML with the field names of its JSON form.
func printYAML(w io.Writer, v any) error {
	b, err := toYAML(v)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// toYAML renders v through its JSON form, so that YAML and JSON keys are the same.
func toYAML(v any) ([]byte, error) {
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var n yaml.Node
	if err := yaml.Unmarshal(j, &n); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	clearStyle(&n)
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(&n); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return buf.Bytes(), enc.Close()
}

// clearStyle turns JSON's flow style into YAML's block style.
func clearStyle(n *yaml.Node) {
	n.Style &^= yaml.FlowStyle
	if n.Kind == yaml.ScalarNode && n.Style == yaml.DoubleQuotedStyle {
		n.Style = 0
	}
	for _, c := range n.Content {
		clearStyle(c)
	}
}

// yamlToJSON converts one YAML document to JSON.
func yamlToJSON(doc []byte) ([]byte, error) {
	var v any
	if err := yaml.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func join(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// age prints how long ago t was, coarsely (5s, 3m, 2h, 4d).
func age(now, t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	d := now.Sub(t)
	switch {
	case d < 0:
		return "0s"
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	}
	return fmt.Sprintf("%dd", int(d.Hours()/24))
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339)
}
