package auth_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/testdb"
	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/auth"
	"github.com/garo-dev/garo/server/store"
)

func TestMain(m *testing.M) { testdb.Main(m) }

var operator = store.Actor{Name: "token:ops"}

// expiredAdmin stores an admin token that expired an hour ago.
func expiredAdmin(t *testing.T, st *store.Store, name string) *store.APIToken {
	t.Helper()
	past := st.Now().Add(-time.Hour)
	tok := &store.APIToken{ID: uuid.NewString(), Name: name, Hash: auth.Hash(name), Scopes: store.StringList{portalapi.ScopeAdmin},
		OwnerPrefixes: store.StringList{}, CreatedBy: "test", ExpiresAt: &past}
	if err := st.CreateToken(t.Context(), tok); err != nil {
		t.Fatal(err)
	}
	return tok
}

// TestExpiredAdminIsNotTheLastAdmin: an expired admin token does not count as an admin,
// neither for the token being deleted (it may always go) nor as the one that stays.
func TestExpiredAdminIsNotTheLastAdmin(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		if _, err := auth.Bootstrap(ctx, st, auth.BootstrapConfig{Token: "garo_" + strings.Repeat("b", 43)}, testkit.Discard()); err != nil {
			t.Fatal(err)
		}
		tokens := auth.NewTokens(st)
		list, err := tokens.List(ctx)
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("tokens = %+v, %v", list, err)
		}
		live := list.Items[0].ID
		old := expiredAdmin(t, st, "expired-admin")
		if err := tokens.Delete(ctx, operator, live); !errors.Is(err, auth.ErrLastAdmin) {
			t.Errorf("delete the only valid admin token beside an expired one = %v, want ErrLastAdmin", err)
		}
		if err := tokens.Delete(ctx, operator, old.ID); err != nil {
			t.Errorf("delete an expired admin token while a valid one stays = %v, want success", err)
		}
		if _, err := st.GetToken(ctx, live); err != nil {
			t.Errorf("the valid admin token: %v", err)
		}
	})
}

// TestDeletedBootstrapTokenNeverReturns is finding 4 of issue 11: the bootstrap token is
// deleted through the API while another admin token exists, that one expires (here:
// goes) too, and the server restarts with the bootstrap token still in its file. It must
// not adopt it again; it says so and how to recover, and the recovery works.
func TestDeletedBootstrapTokenNeverReturns(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		st := testdb.Open(t, b)
		file := filepath.Join(t.TempDir(), "admin.token")
		cfg := auth.BootstrapConfig{File: file}
		if got, err := auth.Bootstrap(ctx, st, cfg, testkit.Discard()); err != nil || got != file {
			t.Fatalf("first start: %q, %v", got, err)
		}
		raw, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimSpace(string(raw))
		authn := auth.NewAuthenticator(st, nil)
		first, err := authn.Authenticate(ctx, "Bearer "+secret)
		if err != nil {
			t.Fatal(err)
		}

		tokens := auth.NewTokens(st)
		exp := portalapi.DurationOf(time.Hour)
		next, err := tokens.Create(ctx, operator, portalapi.TokenRequest{Name: "ops", Scopes: []string{portalapi.ScopeAdmin}, ExpiresIn: exp})
		if err != nil {
			t.Fatal(err)
		}
		if err := tokens.Delete(ctx, operator, first.TokenID); err != nil {
			t.Fatalf("delete the bootstrap token while another admin exists: %v", err)
		}
		// The other admin token runs out (gone here: the store's clock is the wall clock),
		// and an expired one is left.
		if err := st.DeleteToken(ctx, next.ID); err != nil {
			t.Fatal(err)
		}
		expiredAdmin(t, st, "expired-admin")

		// Restart (a second handle on the same database), the file still there.
		st2 := testdb.Open(t, b)
		log, logs := testkit.TextLogs()
		if got, err := auth.Bootstrap(ctx, st2, cfg, log); err != nil || got != "" {
			t.Fatalf("restart: %q, %v; want no token file used", got, err)
		}
		if _, err := auth.NewAuthenticator(st2, nil).Authenticate(ctx, "Bearer "+secret); !errors.Is(err, auth.ErrUnauthenticated) {
			t.Fatalf("the deleted bootstrap token after a restart = %v, want ErrUnauthenticated", err)
		}
		if s := logs.String(); !strings.Contains(s, auth.RecoverCommand) || !strings.Contains(s, first.TokenID) || strings.Contains(s, secret) {
			t.Errorf("the restart's log names neither the recovery command nor the bootstrap token id, or leaks the token:\n%s", s)
		}
		// A configured bootstrap token does not come (back) either.
		if _, err := auth.Bootstrap(ctx, st2, auth.BootstrapConfig{Token: "garo_" + strings.Repeat("c", 43)}, testkit.Discard()); err != nil {
			t.Fatal(err)
		}
		if n, err := st2.CountAdminTokens(ctx); err != nil || n != 0 {
			t.Fatalf("admin tokens after a restart with a configured token = %d, %v; want 0", n, err)
		}

		// The operator mints one on purpose.
		tok, fresh, err := auth.MintAdmin(ctx, st2, store.Actor{Name: "garo-server admin-token"}, "recovered")
		if err != nil {
			t.Fatal(err)
		}
		p, err := auth.NewAuthenticator(st2, nil).Authenticate(ctx, "Bearer "+fresh)
		if err != nil || p.TokenID != tok.ID || !p.Has(portalapi.ScopeAdmin) {
			t.Fatalf("the recovered token: %+v, %v", p, err)
		}
	})
}

// TestBootstrapOnce: two starts on one database make one bootstrap token, and a fresh
// database next to the file adopts it (the operator's token survives a new database).
func TestBootstrapOnce(t *testing.T) {
	testdb.Each(t, func(t *testing.T, b testdb.Backend) {
		t.Parallel()
		ctx := t.Context()
		file := filepath.Join(t.TempDir(), "admin.token")
		st := testdb.Open(t, b)
		for range 2 {
			if _, err := auth.Bootstrap(ctx, st, auth.BootstrapConfig{File: file}, testkit.Discard()); err != nil {
				t.Fatal(err)
			}
		}
		if n, err := st.CountAdminTokens(ctx); err != nil || n != 1 {
			t.Fatalf("admin tokens after two starts = %d, %v", n, err)
		}
		done, err := st.GetState(ctx, store.StateAdminBootstrap)
		if err != nil {
			t.Fatalf("bootstrap not recorded: %v", err)
		}
		fresh := testdb.Open(t, testdb.Fresh(t, b))
		if got, err := auth.Bootstrap(ctx, fresh, auth.BootstrapConfig{File: file}, testkit.Discard()); err != nil || got != file {
			t.Fatalf("fresh database: %q, %v", got, err)
		}
		raw, _ := os.ReadFile(file)
		p, err := auth.NewAuthenticator(fresh, nil).Authenticate(ctx, "Bearer "+strings.TrimSpace(string(raw)))
		if err != nil || p.TokenID == done.Value {
			t.Fatalf("the adopted token on a fresh database: %+v, %v", p, err)
		}
	})
}
