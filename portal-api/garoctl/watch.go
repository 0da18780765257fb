package garoctl

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
)

// Bounds of --interval: the northbound API has no long-poll for policies, jobs or agents,
// so --watch polls, never faster than minWatchInterval.
const (
	defaultWatchInterval = 2 * time.Second
	minWatchInterval     = time.Second
	maxWatchInterval     = 5 * time.Minute
)

// clearScreen moves the cursor home and clears the terminal (ANSI).
const clearScreen = "\x1b[H\x1b[2J"

// watchFlags are --watch and --interval of a list command.
type watchFlags struct {
	on       bool
	interval time.Duration
}

func (w *watchFlags) bind(cmd *cobra.Command) {
	cmd.Flags().BoolVarP(&w.on, "watch", "w", false, "keep listing: redraw on a terminal, else print rows that are new or changed (an age alone is no change); Ctrl-C ends")
	w.bindInterval(cmd)
}

func (w *watchFlags) bindInterval(cmd *cobra.Command) {
	cmd.Flags().DurationVar(&w.interval, "interval", defaultWatchInterval, "how often to poll the server ("+minWatchInterval.String()+" to "+maxWatchInterval.String()+")")
}

func (w *watchFlags) check() error {
	if w.interval < minWatchInterval || w.interval > maxWatchInterval {
		return usageError{fmt.Errorf("--interval must be between %s and %s, not %s", minWatchInterval, maxWatchInterval, w.interval)}
	}
	return nil
}

// frame is one poll's result: the API object (for -o json|yaml) and its table.
type frame struct {
	v any
	t table
}

// listOrWatch prints fetch's result once, or with --watch every interval until the
// context ends (which is then no error).
func (g *globals) listOrWatch(cmd *cobra.Command, w watchFlags, fetch func(ctx context.Context) (frame, error)) error {
	if !w.on {
		f, err := fetch(cmd.Context())
		if err != nil {
			return err
		}
		return g.print(cmd, f.v, f.t)
	}
	if err := w.check(); err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	redraw := isTerminal(out)
	var seen map[string]bool
	last := ""
	return g.poll(cmd.Context(), w.interval, func(ctx context.Context) error {
		f, err := fetch(ctx)
		if err != nil {
			return err
		}
		switch {
		case redraw:
			var buf bytes.Buffer
			if err := writeOutput(&buf, g.output, f.v, f.t); err != nil {
				return err
			}
			_, err = io.WriteString(out, clearScreen+buf.String())
			return err
		case g.output == "json" || g.output == "yaml":
			var buf bytes.Buffer
			if err := writeOutput(&buf, g.output, f.v, f.t); err != nil {
				return err
			}
			if buf.String() == last {
				return nil
			}
			last = buf.String()
			_, err = io.WriteString(out, last)
			return err
		}
		head, rows, keys := f.t.lines(g.output == "wide")
		var b strings.Builder
		if seen == nil {
			seen = map[string]bool{}
			b.WriteString(head)
		}
		now := map[string]bool{}
		for i, k := range keys {
			now[k] = true
			if !seen[k] {
				b.WriteString(rows[i])
			}
		}
		seen = now
		_, err = io.WriteString(out, b.String())
		return err
	})
}

// poll runs step now and then every interval until ctx ends; an error of step ends it,
// unless it is the context's own.
func (g *globals) poll(ctx context.Context, interval time.Duration, step func(ctx context.Context) error) error {
	for {
		if err := step(ctx); err != nil {
			if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
				return nil
			}
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-g.after(interval):
		}
	}
}

// after is the timer of the IO, else time.After.
func (g *globals) after(d time.Duration) <-chan time.Time {
	if g.io.After != nil {
		return g.io.After(d)
	}
	return time.After(d)
}

// lines renders t as aligned lines: the header, each row, and each row's cells but the
// ticking ones as its identity (what append mode compares across polls).
func (t table) lines(wide bool) (head string, rows, keys []string) {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 0, 3, ' ', 0)
	h := t.head
	if wide {
		h = append(append([]string{}, h...), t.wideHead...)
	}
	fmt.Fprintln(tw, strings.Join(h, "\t"))
	for i, r := range t.rows {
		if wide && i < len(t.wideRows) {
			r = append(append([]string{}, r...), t.wideRows[i]...)
		}
		var key []string
		for c, cell := range r {
			if !slices.Contains(t.ticking, c) {
				key = append(key, cell)
			}
		}
		keys = append(keys, strings.Join(key, "\t"))
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	_ = tw.Flush()
	all := strings.SplitAfter(buf.String(), "\n")
	return all[0], all[1 : 1+len(keys)], keys
}

// isTerminal reports whether w is a character device (a terminal), where --watch redraws.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
