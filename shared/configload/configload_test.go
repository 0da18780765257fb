package configload_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/garo-dev/garo/shared/configload"
)

type conf struct {
	Name string `mapstructure:"name"`
	Sub  struct {
		Wait  time.Duration `mapstructure:"wait"`
		Count int           `mapstructure:"count"`
		On    bool          `mapstructure:"on"`
	} `mapstructure:"sub"`
}

func defaults() conf {
	var c conf
	c.Name, c.Sub.Wait, c.Sub.Count = "default", time.Second, 1
	return c
}

func TestPrecedence(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("name: file\nsub:\n  wait: 5s\n  count: 7\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_SUB_COUNT", "010")
	t.Setenv("TEST_SUB_ON", "TRUE")
	fs := pflag.NewFlagSet("x", pflag.ContinueOnError)
	fs.String("name", "flag-default", "")
	fs.String("unset", "", "")
	if err := fs.Parse([]string{"--name", "flag"}); err != nil {
		t.Fatal(err)
	}
	c := defaults()
	err := configload.Load(&c, configload.Options{EnvPrefix: "TEST", File: file, Flags: fs, FlagKeys: map[string]string{"name": "name"}})
	if err != nil {
		t.Fatal(err)
	}
	// flag > env > file > default; "010" is decimal ten.
	if c.Name != "flag" || c.Sub.Wait != 5*time.Second || c.Sub.Count != 10 || !c.Sub.On {
		t.Fatalf("loaded %+v", c)
	}
	if got := strings.Join(configload.Keys(&c), ","); got != "name,sub.count,sub.on,sub.wait" {
		t.Fatalf("keys = %s", got)
	}
}

func TestErrorsNameTheirKeys(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("nmae: typo\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := defaults()
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TEST", File: file}); err == nil || !strings.Contains(err.Error(), "nmae: unknown key") {
		t.Fatalf("unknown key = %v", err)
	}
	t.Setenv("TEST_SUB_WAIT", "30")
	t.Setenv("TEST_SUB_COUNT", "0x10")
	t.Setenv("TEST_SUB_ON", "yes")
	err := configload.Load(&c, configload.Options{EnvPrefix: "TEST"})
	for _, key := range []string{"sub.wait: want a duration", "sub.count: want an integer", "sub.on: want true or false"} {
		if err == nil || !strings.Contains(err.Error(), key) {
			t.Errorf("error %v does not say %q", err, key)
		}
	}
}

type listConf struct {
	Paths []string `mapstructure:"paths"`
}

func TestStringLists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("paths:\n  - /srv/a\n  - /srv/b\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var c listConf
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTL", File: file}); err != nil || strings.Join(c.Paths, "|") != "/srv/a|/srv/b" {
		t.Fatalf("from YAML: %q, %v", c.Paths, err)
	}
	t.Setenv("TESTL_PATHS", " /x , ,/y")
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTL", File: file}); err != nil || strings.Join(c.Paths, "|") != "/x|/y" {
		t.Fatalf("from the environment over YAML: %q, %v", c.Paths, err)
	}
	t.Setenv("TESTL_PATHS", "") // an empty variable is no value, as for every key
	c = listConf{Paths: []string{"default"}}
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTL"}); err != nil || strings.Join(c.Paths, "|") != "default" {
		t.Fatalf("empty environment value: %q, %v", c.Paths, err)
	}
	if err := os.WriteFile(file, []byte("paths:\n  - 1\n  - {a: b}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Unsetenv("TESTL_PATHS"); err != nil {
		t.Fatal(err)
	}
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTL", File: file}); err == nil || !strings.Contains(err.Error(), "paths: want a list of strings") {
		t.Fatalf("a list of non-strings: %v", err)
	}
}

type item struct {
	ID   int64         `mapstructure:"id"`
	Name string        `mapstructure:"name"`
	Wait time.Duration `mapstructure:"wait"`
}

type itemsConf struct {
	Items []item `mapstructure:"items"`
}

func TestStructLists(t *testing.T) {
	file := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(file, []byte("items:\n  - id: 1\n    name: a\n    wait: 2s\n  - ID: 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	c := itemsConf{Items: []item{{ID: 9}}}
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTI", File: file}); err != nil {
		t.Fatal(err)
	}
	if len(c.Items) != 2 || c.Items[0] != (item{ID: 1, Name: "a", Wait: 2 * time.Second}) || c.Items[1] != (item{ID: 2}) {
		t.Fatalf("from YAML: %+v", c.Items)
	}
	// The environment holds the list in JSON (or YAML flow) form, and wins over the file.
	t.Setenv("TESTI_ITEMS", `[{"id": 3, "name": "env"}]`)
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTI", File: file}); err != nil || len(c.Items) != 1 || c.Items[0] != (item{ID: 3, Name: "env"}) {
		t.Fatalf("from the environment: %+v, %v", c.Items, err)
	}
	// Without file or variable the default stays.
	if err := os.Unsetenv("TESTI_ITEMS"); err != nil {
		t.Fatal(err)
	}
	c = itemsConf{Items: []item{{ID: 9}}}
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTI"}); err != nil || len(c.Items) != 1 || c.Items[0].ID != 9 {
		t.Fatalf("default: %+v, %v", c.Items, err)
	}
	// Errors name the item and its key.
	if err := os.WriteFile(file, []byte("items:\n  - id: x\n  - nmae: typo\n  - plain\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	err := configload.Load(&c, configload.Options{EnvPrefix: "TESTI", File: file})
	for _, want := range []string{"items[0].id: want an integer", "items[1].nmae: unknown key", "items[2]: want a mapping"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	t.Setenv("TESTI_ITEMS", `[{"id": 3`)
	if err := configload.Load(&c, configload.Options{EnvPrefix: "TESTI"}); err == nil || !strings.Contains(err.Error(), "items: want a list of mappings") {
		t.Errorf("unparsable variable: %v", err)
	}
}
