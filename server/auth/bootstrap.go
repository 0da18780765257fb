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

// Bootstrap makes sure an admin token exists on a first start. With cfg.Token it stores
// that token. Otherwise it adopts the token already in cfg.File (a database started afresh
// keeps the operator's token), or generates one and writes it there, never to the log. It
// does nothing once any admin token exists. It returns the token file used, if any.
func Bootstrap(ctx context.Context, st *store.Store, cfg BootstrapConfig, log *slog.Logger) (string, error) {
	admins, err := st.CountAdminTokens(ctx)
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	if admins > 0 {
		return "", nil
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
	t := &store.APIToken{
		ID: uuid.NewString(), Name: "bootstrap-admin", Hash: Hash(secret),
		Scopes: []string{portalapi.ScopeAdmin}, OwnerPrefixes: []string{}, CreatedBy: bootstrapActor.Name,
	}
	err = st.Tx(ctx, func(tx *store.Store) error {
		if err := tx.CreateToken(ctx, t); err != nil {
			return err
		}
		return tx.Audit(ctx, bootstrapActor, store.Change{
			Action: "token.create", ResourceType: "token", ResourceID: t.ID,
			After: map[string]any{"id": t.ID, "name": t.Name, "scopes": t.Scopes},
		})
	})
	if errors.Is(err, store.ErrAlreadyExists) {
		// Another replica stored the same configured token first.
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("bootstrap admin token: %w", err)
	}
	switch {
	case adopted:
		log.Info("stored the admin token found in the token file", "file", file)
	case file != "":
		log.Warn("generated the first admin token; read it from the file and keep it safe", "file", file)
	default:
		log.Info("stored the configured bootstrap admin token")
	}
	return file, nil
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
