package auth

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"github.com/google/uuid"

	portalapi "github.com/garo-dev/garo/portal-api"
	"github.com/garo-dev/garo/server/store"
)

// BootstrapConfig says where the first admin token comes from.
type BootstrapConfig struct {
	// Token, when set, becomes the admin token (its hash is stored).
	Token string
	// File receives a generated admin token (mode 0600) when Token is empty.
	File string
}

// bootstrapActor signs the audit event of the bootstrap token.
var bootstrapActor = store.Actor{Name: "garo-server"}

// RecoverCommand is what an operator runs to mint an admin token on purpose; logs and
// docs name it.
const RecoverCommand = "garo-server admin-token create"

// Bootstrap makes sure an admin token exists on the first start of a database. With
// cfg.Token it stores that token. Otherwise it adopts the token already in cfg.File (a
// database started afresh keeps the operator's token), or generates one and writes it
// there, never to the log. It does nothing once any admin token is valid.
//
// The bootstrap happens once per database: the token's id is recorded (server_state
// admin_bootstrap) in the transaction that stores it, and a later start never makes or
// adopts one again, even when every admin token has expired or was deleted since: the
// token still in cfg.File (or cfg.Token) was deleted on purpose and must not come back.
// The server then logs what it did not do and how to recover (RecoverCommand). It
// returns the token file used, if any.
func Bootstrap(ctx context.Context, st *store.Store, cfg BootstrapConfig, log *slog.Logger) (string, error) {
	admins, err := st.CountAdminTokens(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	if admins > 0 {
		return "", nil
	}
	done, err := st.GetState(ctx, store.StateAdminBootstrap)
	if err == nil {
		log.Error("no valid admin token is left (each expired or was deleted), and this database had its bootstrap admin token already: "+
			"garo-server does not adopt the token file or the configured bootstrap token again. Mint a new admin token on purpose with `"+RecoverCommand+"`",
			"bootstrap_token_id", done.Value, "bootstrapped_at", done.UpdatedAt, "file", cfg.File)
		return "", nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	secret, file, adopted := cfg.Token, "", false
	if secret == "" {
		file = cfg.File
		secret = readSecretFile(file)
		adopted = secret != ""
		if !adopted {
			if secret, err = NewSecret(); err != nil {
				return "", err
			}
			// The file is written before the hash is committed: a failure in between leaves
			// a useless file, never a server whose only admin token nobody has.
			if err := writeSecretFile(file, secret); err != nil {
				return "", fmt.Errorf("bootstrap admin token: %w", err)
			}
		}
	}
	t, err := storeAdmin(ctx, st, bootstrapActor, "bootstrap-admin", secret, func(tx *store.Store, id string) error {
		return tx.RecordState(ctx, store.StateAdminBootstrap, id)
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Another replica bootstrapped first.
		if file != "" && !adopted {
			log.Warn("another replica made the first admin token at the same time: the token this one wrote to the file is not valid; take the other replica's", "file", file)
		}
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	switch {
	case adopted:
		log.Info("stored the admin token found in the token file; it is this database's bootstrap token and is never adopted again", "file", file, "token_id", t.ID)
	case file != "":
		log.Warn("generated the first admin token; read it from the file and keep it safe", "file", file, "token_id", t.ID)
	default:
		log.Info("stored the configured bootstrap admin token; it is never stored again", "token_id", t.ID)
	}
	return file, nil
}

// MintAdmin makes a new admin token on an operator's purpose (RecoverCommand), whatever
// tokens exist, and returns its secret: the way back after every admin token expired or
// was deleted. It is audited as token.create by actor.
func MintAdmin(ctx context.Context, st *store.Store, actor store.Actor, name string) (*store.APIToken, string, error) {
	if n := len(strings.TrimSpace(name)); n < 1 || len(name) > 100 {
		return nil, "", fmt.Errorf("token name must be 1-100 characters, got %q", name)
	}
	secret, err := NewSecret()
	if err != nil {
		return nil, "", err
	}
	t, err := storeAdmin(ctx, st, actor, name, secret, nil)
	if err != nil {
		return nil, "", fmt.Errorf("mint admin token: %w", err)
	}
	return t, secret, nil
}

// storeAdmin stores an admin token of secret with its audit event and, in the same
// transaction, whatever also runs.
func storeAdmin(ctx context.Context, st *store.Store, actor store.Actor, name, secret string, also func(tx *store.Store, id string) error) (*store.APIToken, error) {
	t := &store.APIToken{
		ID: uuid.NewString(), Name: name, Hash: Hash(secret),
		Scopes: []string{portalapi.ScopeAdmin}, OwnerPrefixes: []string{}, CreatedBy: actor.Name,
	}
	err := st.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateToken(ctx, t); err != nil {
			return err
		}
		if also != nil {
			if err := also(tx, t.ID); err != nil {
				return err
			}
		}
		return tx.Audit(ctx, actor, store.Change{
			Action: "token.create", ResourceType: "token", ResourceID: t.ID,
			After: map[string]any{"id": t.ID, "name": t.Name, "scopes": t.Scopes},
		})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// readSecretFile returns the token in path, or "" when there is no well-formed one.
func readSecretFile(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	secret := strings.TrimSpace(string(b))
	if !strings.HasPrefix(secret, TokenPrefix) || len(secret) < 32 || strings.ContainsAny(secret, " \t\n") {
		return ""
	}
	return secret
}

// writeSecretFile writes secret to path with mode 0600, atomically.
func writeSecretFile(path, secret string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("create folder of %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".admin-token-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name()) // after the rename there is nothing to remove
	if err := tmp.Chmod(0o600); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.WriteString(secret + "\n"); err != nil {
		_ = tmp.Close() // the first error is the one to report
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// WriteTokenFile writes a token secret to path with mode 0600, atomically; a path that
// exists already is refused, so that no token is overwritten by mistake.
func WriteTokenFile(path, secret string) error {
	if _, err := os.Lstat(path); err == nil {
		return fmt.Errorf("%s exists already: name another file, or remove it first", path)
	}
	return writeSecretFile(path, secret)
}
