package client

import (
	"context"
	"fmt"
	"iter"
)

// paginate turns a page fetcher into an iterator that follows next cursors until one is
// empty. A server that hands back a cursor it already gave would loop forever; that is
// reported as an error instead.
func paginate[T any](ctx context.Context, start string, fetch func(ctx context.Context, cursor string) ([]T, string, error)) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		var zero T
		cursor := start
		seen := map[string]bool{}
		for {
			if err := ctx.Err(); err != nil {
				yield(zero, err)
				return
			}
			items, next, err := fetch(ctx, cursor)
			if err != nil {
				yield(zero, err)
				return
			}
			for _, it := range items {
				if !yield(it, nil) {
					return
				}
			}
			if next == "" {
				return
			}
			if seen[next] || next == start {
				yield(zero, fmt.Errorf("garo client: server repeated page cursor %q", next))
				return
			}
			seen[next] = true
			cursor = next
		}
	}
}
