package api_test

import (
	"fmt"
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/portal-api/client"
)

// BenchmarkPolicyAPI measures the portal API end to end over loopback HTTP, on each store:
// create (a write with its audit event in one transaction), get, and a conditional patch.
// Run: make bench, or go test -run '^$' -bench PolicyAPI ./server/api/
func BenchmarkPolicyAPI(b *testing.B) {
	testdb.EachB(b, func(b *testing.B, be testdb.Backend) {
		e := newBenchEnv(b, be)
		ctx := b.Context()
		b.Run("create", func(b *testing.B) {
			b.ReportAllocs()
			i := 0
			for b.Loop() {
				if _, err := e.admin.CreatePolicy(ctx, fmt.Sprintf("bench/create-%d", i), policyRequest("p")); err != nil {
					b.Fatal(err)
				}
				i++
			}
		})
		if _, err := e.admin.CreatePolicy(ctx, "bench/hot", policyRequest("p")); err != nil {
			b.Fatal(err)
		}
		b.Run("get", func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.admin.GetPolicy(ctx, "bench/hot", "p"); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run("patch-if-match", func(b *testing.B) {
			b.ReportAllocs()
			p, err := e.admin.GetPolicy(ctx, "bench/hot", "p")
			if err != nil {
				b.Fatal(err)
			}
			v := p.Version
			for b.Loop() {
				if _, err := e.admin.PatchPolicy(ctx, "bench/hot", "p", map[string]any{"max_runners": 4 + v%5}, client.ETag(v)); err != nil {
					b.Fatal(err)
				}
				v++
			}
		})
	})
}
