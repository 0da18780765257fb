package config

import (
	"net/url"
	"regexp"
	"strings"

	"github.com/spf13/pflag"
)

// flagKeys maps the flags of RegisterFlags to configuration keys. The DSN and the
// bootstrap token have no flag on purpose: command lines are visible to every user.
var flagKeys = map[string]string{
	"listen":          "server.listen",
	"database-driver": "database.driver",
	"sqlite-path":     "database.sqlite_path",
	"log-level":       "log.level",
	"log-format":      "log.format",
}

// RegisterFlags adds garo-server's configuration flags to fs.
func RegisterFlags(fs *pflag.FlagSet) {
	d := Defaults()
	fs.String("listen", d.Server.Listen, "address to listen on (server.listen)")
	fs.String("database-driver", d.Database.Driver, `"sqlite" or "postgres" (database.driver)`)
	fs.String("sqlite-path", d.Database.SQLitePath, "SQLite database file (database.sqlite_path)")
	fs.String("log-level", d.Log.Level, "debug, info, warn or error (log.level)")
	fs.String("log-format", d.Log.Format, `"text" or "json" (log.format)`)
}

var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN hides the password of a PostgreSQL URL or key=value DSN.
func redactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "<redacted>"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		q := u.Query()
		if q.Has("password") {
			q.Set("password", "redacted")
			u.RawQuery = q.Encode()
		}
		return u.String()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}<redacted>")
}
