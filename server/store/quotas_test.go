package store_test

import (
	"testing"

	"github.com/garo-dev/garo/internal/testkit/testdb"
	"github.com/garo-dev/garo/server/store"
)

func TestQuotaRows(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		st := testdb.Open(t, b)
		ctx := t.Context()
		n := int64(3)
		q := &store.Quota{ID: "q1", Kind: store.QuotaOwnerPrefix, Subject: "acme/", MaxRunners: &n}
		if err := st.CreateQuota(ctx, q); err != nil {
			t.Fatal(err)
		}
		err := st.Tx(ctx, func(tx *store.Store) error {
			qs, err := tx.LockQuotas(ctx)
			if err != nil {
				return err
			}
			if len(qs) != 1 || *qs[0].MaxRunners != 3 || qs[0].MaxCPUMilli != nil {
				t.Errorf("locked %+v", qs)
			}
			live, err := tx.LiveRunners(ctx)
			if len(live) != 0 {
				t.Errorf("live runners of an empty store: %+v", live)
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
	})
}
