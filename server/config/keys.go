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

// dsnPassword finds password and sslpassword (the client key's passphrase) in a key=value
// DSN.
var dsnPassword = regexp.MustCompile(`(?i)(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)`)

// redactDSN hides the password of a PostgreSQL URL or key=value DSN, and the sslpassword
// that unlocks its client key.
func redactDSN(dsn string) string {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "<redacted>"
		}
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "redacted")
		}
		redactQuery(u, func(key string) bool { return strings.HasSuffix(strings.ToLower(key), "password") })
		return u.String()
	}
	return dsnPassword.ReplaceAllString(dsn, "${1}<redacted>")
}

// redactURL hides the credentials a URL may carry: its user information whole (a token
// is often the user name: https://x-access-token:ghp_…@ghe/ or https://ghp_…@ghe/) and
// the values of its query. A URL that does not parse is redacted whole.
func redactURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "<redacted>"
	}
	if u.User != nil {
		u.User = url.User("redacted")
	}
	redactQuery(u, func(string) bool { return true })
	return u.String()
}

// redactQuery replaces the values of the query parameters of u that secret names.
func redactQuery(u *url.URL, secret func(key string) bool) {
	if u.RawQuery == "" {
		return
	}
	q := u.Query()
	changed := false
	for key, values := range q {
		if secret(key) {
			for i := range values {
				values[i] = "redacted"
			}
			changed = true
		}
	}
	if changed {
		u.RawQuery = q.Encode()
	}
}
