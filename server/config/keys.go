package config

import (
	"fmt"
	"net/url"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cast"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"
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

// leaf is one configuration key and the struct field that holds it.
type leaf struct {
	key   string
	field reflect.Value
}

// leaves walks c by its mapstructure tags.
func leaves(c *Config) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := 0; i < t.NumField(); i++ {
			key := t.Field(i).Tag.Get("mapstructure")
			if prefix != "" {
				key = prefix + "." + key
			}
			f := v.Field(i)
			if f.Kind() == reflect.Struct {
				walk(key, f)
				continue
			}
			out = append(out, leaf{key: key, field: f})
		}
	}
	walk("", reflect.ValueOf(c).Elem())
	return out
}

// allKeys lists every configuration key, sorted.
func allKeys(c Config) []string {
	var keys []string
	for _, l := range leaves(&c) {
		keys = append(keys, l.key)
	}
	sort.Strings(keys)
	return keys
}

func setDefaults(v *viper.Viper, _ string, d Config) {
	for _, l := range leaves(&d) {
		v.SetDefault(l.key, l.field.Interface())
	}
}

var durationType = reflect.TypeOf(time.Duration(0))

// decode converts the value of l's key into its field, naming the key on failure.
func decode(v *viper.Viper, l leaf) error {
	raw := v.Get(l.key)
	switch {
	case l.field.Type() == durationType:
		d, err := toDuration(raw)
		if err != nil {
			return fmt.Errorf("%s: must be a duration such as \"30s\", got %v", l.key, raw)
		}
		l.field.SetInt(int64(d))
	case l.field.Kind() == reflect.String:
		s, err := cast.ToStringE(raw)
		if err != nil {
			return fmt.Errorf("%s: must be a string, got %v", l.key, raw)
		}
		l.field.SetString(s)
	case l.field.Kind() == reflect.Bool:
		b, err := toBool(raw)
		if err != nil {
			return fmt.Errorf("%s: must be true or false, got %v", l.key, raw)
		}
		l.field.SetBool(b)
	case l.field.Kind() == reflect.Int || l.field.Kind() == reflect.Int64:
		n, err := toInt(raw)
		if err != nil {
			return fmt.Errorf("%s: must be an integer, got %v", l.key, raw)
		}
		l.field.SetInt(n)
	default:
		return fmt.Errorf("%s: unsupported field type %s", l.key, l.field.Type())
	}
	return nil
}

// toDuration accepts a time.Duration (defaults, flags) or a string with a unit. A bare
// number is refused: "30" would otherwise mean 30 nanoseconds.
func toDuration(raw any) (time.Duration, error) {
	switch v := raw.(type) {
	case time.Duration:
		return v, nil
	case string:
		return time.ParseDuration(strings.TrimSpace(v))
	}
	return 0, fmt.Errorf("not a duration string: %v", raw)
}

// toBool accepts a bool or the strings true and false (any case).
func toBool(raw any) (bool, error) {
	switch v := raw.(type) {
	case bool:
		return v, nil
	case string:
		switch strings.ToLower(strings.TrimSpace(v)) {
		case "true":
			return true, nil
		case "false":
			return false, nil
		}
	}
	return false, fmt.Errorf("not a bool: %v", raw)
}

// toInt accepts an integer or a decimal string: "010" is ten, not eight, and "0x10" is
// refused.
func toInt(raw any) (int64, error) {
	if s, ok := raw.(string); ok {
		return strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	}
	return cast.ToInt64E(raw)
}

// readFile reads the YAML file at path into v, refusing keys that Garo does not know (a
// misspelt key would otherwise be ignored silently).
func readFile(v *viper.Viper, path string) error {
	f := viper.New()
	f.SetConfigFile(path)
	f.SetConfigType("yaml")
	if err := f.ReadInConfig(); err != nil {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, k := range allKeys(Defaults()) {
		known[k] = true
	}
	for _, k := range f.AllKeys() {
		if !known[k] {
			return fmt.Errorf("config file %s: %s: unknown key", path, k)
		}
	}
	if err := v.MergeConfigMap(f.AllSettings()); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
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
