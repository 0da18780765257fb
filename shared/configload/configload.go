// Package configload fills a configuration struct with viper, the same way for every Garo
// binary: the struct's own values are the defaults, then a YAML file (unknown keys
// refused, so a misspelt key does not pass silently), then environment variables, then the
// flags that were set, each overriding the last. Keys come from the fields' mapstructure
// tags ("database.dsn"); the environment variable of a key is the prefix, "_", and the key
// upper-cased with dots as underscores (GARO_DATABASE_DSN). Every value that does not fit
// its field is reported, each error naming its key.
package configload

import (
	"errors"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// Options says where values come from.
type Options struct {
	EnvPrefix string            // "GARO" or "GARO_AGENT"
	File      string            // a YAML file; "" reads none
	Flags     *pflag.FlagSet    // may be nil; only flags that were set count
	FlagKeys  map[string]string // flag name → key
	// IgnoreEnv are variables with the prefix that name no key on purpose (GARO_CONFIG),
	// or, ending in "_", prefixes of other programs' variables (GARO_AGENT_ for the
	// server): UnknownEnv does not report them.
	IgnoreEnv []string
}

// Load fills dst, a pointer to a struct whose fields carry mapstructure tags, over the
// values it already holds (its defaults). Field types: string, bool, int, int64,
// time.Duration (a string with a unit: a bare number is refused, "30" is not 30 ns),
// []string (a YAML list, or in the environment one comma-separated string), and a slice of
// structs of those scalar types (a YAML list of mappings, or in the environment the same
// list in YAML flow or JSON form; each item's keys are checked as the file's are, and an
// error names the item: "github.apps[1].id").
func Load(dst any, o Options) error {
	v := viper.New()
	all := leaves(dst)
	for _, l := range all {
		v.SetDefault(l.key, l.field.Interface())
	}
	v.SetEnvPrefix(o.EnvPrefix)
	v.SetEnvKeyReplacer(strings.NewReplacer(".", "_"))
	v.AutomaticEnv()
	if o.File != "" {
		if err := readFile(v, o.File, all); err != nil {
			return err
		}
	}
	if o.Flags != nil {
		var bindErr error
		o.Flags.VisitAll(func(f *pflag.Flag) {
			if key, ok := o.FlagKeys[f.Name]; ok && f.Changed && bindErr == nil {
				bindErr = v.BindPFlag(key, f)
			}
		})
		if bindErr != nil {
			return fmt.Errorf("bind flags: %w", bindErr)
		}
	}
	var errs []error
	for _, l := range all {
		if err := decode(l.key, v.Get(l.key), l.field); err != nil {
			errs = append(errs, err)
		}
	}
	// With the strict switch, a variable that names no key is an error; without it the
	// binary warns (UnknownEnv) once its logger is set up.
	if StrictEnv(o.EnvPrefix) {
		for _, u := range UnknownEnv(dst, o, os.Environ()) {
			errs = append(errs, fmt.Errorf("%s (%s%s is set)", u, o.EnvPrefix, StrictEnvSuffix))
		}
	}
	return errors.Join(errs...)
}

// Keys lists every key of the struct dst points to, sorted.
func Keys(dst any) []string {
	var keys []string
	for _, l := range leaves(dst) {
		keys = append(keys, l.key)
	}
	sort.Strings(keys)
	return keys
}

// leaf is one key and the struct field that holds it.
type leaf struct {
	key   string
	field reflect.Value
}

func leaves(dst any) []leaf {
	var out []leaf
	var walk func(prefix string, v reflect.Value)
	walk = func(prefix string, v reflect.Value) {
		t := v.Type()
		for i := range t.NumField() {
			key := t.Field(i).Tag.Get("mapstructure")
			if prefix != "" {
				key = prefix + "." + key
			}
			if f := v.Field(i); f.Kind() == reflect.Struct {
				walk(key, f)
			} else {
				out = append(out, leaf{key: key, field: f})
			}
		}
	}
	walk("", reflect.ValueOf(dst).Elem())
	return out
}

// readFile merges the YAML file at path into v, refusing keys dst does not have.
func readFile(v *viper.Viper, path string, all []leaf) error {
	f := viper.New()
	f.SetConfigFile(path)
	f.SetConfigType("yaml")
	if err := f.ReadInConfig(); err != nil {
		return fmt.Errorf("read config file %s: %w", path, err)
	}
	known := map[string]bool{}
	for _, l := range all {
		known[l.key] = true
	}
	var errs []error
	for _, k := range f.AllKeys() {
		if !known[k] {
			errs = append(errs, fmt.Errorf("config file %s: %s: unknown key", path, k))
		}
	}
	if len(errs) > 0 {
		sort.Slice(errs, func(i, j int) bool { return errs[i].Error() < errs[j].Error() })
		return errors.Join(errs...)
	}
	if err := v.MergeConfigMap(f.AllSettings()); err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	return nil
}

var durationType = reflect.TypeOf(time.Duration(0))

// decode converts raw, the value of key, into field, naming the key on failure.
func decode(key string, raw any, field reflect.Value) error {
	l := leaf{key: key, field: field}
	switch {
	case l.field.Kind() == reflect.Slice && l.field.Type().Elem().Kind() == reflect.Struct:
		return decodeItems(key, raw, field)
	case l.field.Type() == durationType:
		d, err := toDuration(raw)
		if err != nil {
			return fmt.Errorf("%s: want a duration with a unit such as \"30s\" or \"5m\", got %v", l.key, raw)
		}
		l.field.SetInt(int64(d))
	case l.field.Kind() == reflect.String:
		s, ok := raw.(string)
		if !ok {
			s = fmt.Sprint(raw)
		}
		l.field.SetString(s)
	case l.field.Kind() == reflect.Bool:
		b, err := toBool(raw)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %v", l.key, raw)
		}
		l.field.SetBool(b)
	case l.field.Kind() == reflect.Int || l.field.Kind() == reflect.Int64:
		n, err := toInt(raw)
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %v", l.key, raw)
		}
		l.field.SetInt(n)
	case l.field.Kind() == reflect.Slice && l.field.Type().Elem().Kind() == reflect.String:
		list, err := toStrings(raw)
		if err != nil {
			return fmt.Errorf("%s: want a list of strings (in the environment: comma-separated), got %v", l.key, raw)
		}
		l.field.Set(reflect.ValueOf(list))
	default:
		return fmt.Errorf("%s: unsupported field type %s", l.key, l.field.Type())
	}
	return nil
}

// decodeItems fills field, a slice of structs, from raw: a list of mappings (from the
// file), or a string holding such a list in YAML flow or JSON form (from the environment).
// Each item's keys are matched against the struct's mapstructure tags, case-insensitively;
// an unknown one is an error, as in the file.
func decodeItems(key string, raw any, field reflect.Value) error {
	if s, ok := raw.(string); ok {
		if strings.TrimSpace(s) == "" {
			raw = nil
		} else if err := yaml.Unmarshal([]byte(s), &raw); err != nil {
			return fmt.Errorf("%s: want a list of mappings (in the environment: YAML or JSON), got a string that does not parse", key)
		}
	}
	if raw == nil {
		return nil
	}
	if v := reflect.ValueOf(raw); v.Type() == field.Type() {
		field.Set(v) // the default
		return nil
	}
	items, ok := raw.([]any)
	if !ok {
		return fmt.Errorf("%s: want a list of mappings, got %T", key, raw)
	}
	out := reflect.MakeSlice(field.Type(), len(items), len(items))
	var errs []error
	for i, item := range items {
		itemKey := fmt.Sprintf("%s[%d]", key, i)
		m, ok := item.(map[string]any)
		if !ok {
			errs = append(errs, fmt.Errorf("%s: want a mapping, got %T", itemKey, item))
			continue
		}
		values := make(map[string]any, len(m))
		for k, v := range m {
			values[strings.ToLower(k)] = v
		}
		fields := leaves(out.Index(i).Addr().Interface())
		known := map[string]bool{}
		for _, f := range fields {
			known[f.key] = true
			if v, ok := values[f.key]; ok {
				if err := decode(itemKey+"."+f.key, v, f.field); err != nil {
					errs = append(errs, err)
				}
			}
		}
		var unknown []string
		for k := range values {
			if !known[k] {
				unknown = append(unknown, k)
			}
		}
		sort.Strings(unknown)
		for _, k := range unknown {
			errs = append(errs, fmt.Errorf("%s.%s: unknown key", itemKey, k))
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	field.Set(out)
	return nil
}

// toStrings accepts a list of strings, or one string of comma-separated items (blank
// items dropped, spaces around items trimmed).
func toStrings(raw any) ([]string, error) {
	switch v := raw.(type) {
	case nil:
		return nil, nil
	case []string:
		return v, nil
	case []any:
		out := make([]string, 0, len(v))
		for _, item := range v {
			s, ok := item.(string)
			if !ok {
				return nil, fmt.Errorf("not a string: %v", item)
			}
			out = append(out, s)
		}
		return out, nil
	case string:
		var out []string
		for _, item := range strings.Split(v, ",") {
			if item = strings.TrimSpace(item); item != "" {
				out = append(out, item)
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("not a list: %v", raw)
}

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
	switch v := raw.(type) {
	case int:
		return int64(v), nil
	case int64:
		return v, nil
	case int32:
		return int64(v), nil
	case uint64:
		return int64(v), nil
	case float64:
		if v == float64(int64(v)) {
			return int64(v), nil
		}
	case string:
		return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	}
	return 0, fmt.Errorf("not an integer: %v", raw)
}

// PrintYAML writes cfg (a redacted configuration) as YAML, the output of the binaries'
// `config print`.
func PrintYAML(w io.Writer, cfg any) error {
	enc := yaml.NewEncoder(w)
	enc.SetIndent(2)
	if err := enc.Encode(cfg); err != nil {
		return fmt.Errorf("print configuration: %w", err)
	}
	return enc.Close()
}
