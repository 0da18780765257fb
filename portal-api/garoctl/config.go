package garoctl

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"

	"github.com/spf13/viper"
	"gopkg.in/yaml.v3"
)

// Context is one named connection of the configuration file: a server and how to
// authenticate to it.
type Context struct {
	Name   string `yaml:"name" mapstructure:"name"`
	Server string `yaml:"server" mapstructure:"server"`
	// Token is the API token itself; the file is 0600.
	Token string `yaml:"token,omitempty" mapstructure:"token"`
	// CAFile is a PEM bundle of the CAs that sign the server's certificate.
	CAFile string `yaml:"certificate-authority,omitempty" mapstructure:"certificate-authority"`
	// CertFile and KeyFile are the client certificate for a server that asks for one (mTLS).
	CertFile string `yaml:"client-certificate,omitempty" mapstructure:"client-certificate"`
	KeyFile  string `yaml:"client-key,omitempty" mapstructure:"client-key"`
	// InsecureSkipVerify turns certificate verification off (a warning on every use).
	InsecureSkipVerify bool `yaml:"insecure-skip-verify,omitempty" mapstructure:"insecure-skip-verify"`
}

// Config is garoctl's configuration file.
type Config struct {
	CurrentContext string    `yaml:"current-context" mapstructure:"current-context"`
	Contexts       []Context `yaml:"contexts" mapstructure:"contexts"`
}

// configPath is --config, else $GARO_CONFIG, else $XDG_CONFIG_HOME/garoctl/config.yaml,
// else ~/.config/garoctl/config.yaml.
func (g *globals) configPath() (string, error) {
	if g.configFile != "" {
		return g.configFile, nil
	}
	if p, ok := g.env(EnvConfig); ok && p != "" {
		return p, nil
	}
	if x, ok := g.env("XDG_CONFIG_HOME"); ok && x != "" {
		return filepath.Join(x, "garoctl", "config.yaml"), nil
	}
	if h, ok := g.env("HOME"); ok && h != "" {
		return filepath.Join(h, ".config", "garoctl", "config.yaml"), nil
	}
	return "", configError{errors.New("no configuration file: set --config, " + EnvConfig + ", XDG_CONFIG_HOME or HOME")}
}

// loadConfig reads the configuration file through viper; a missing file is an empty
// configuration.
func (g *globals) loadConfig() (*Config, string, error) {
	path, err := g.configPath()
	if err != nil {
		return nil, "", err
	}
	cfg := &Config{}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return cfg, path, nil
	}
	v := viper.New()
	v.SetConfigFile(path)
	v.SetConfigType("yaml")
	if err := v.ReadInConfig(); err != nil {
		return nil, "", configError{fmt.Errorf("read %s: %w", path, err)}
	}
	if err := v.Unmarshal(cfg); err != nil {
		return nil, "", configError{fmt.Errorf("parse %s: %w", path, err)}
	}
	return cfg, path, nil
}

// saveConfig writes cfg to path, readable by its owner only.
func saveConfig(cfg *Config, path string) error {
	sort.Slice(cfg.Contexts, func(i, j int) bool { return cfg.Contexts[i].Name < cfg.Contexts[j].Name })
	b, err := yaml.Marshal(cfg)
	if err != nil {
		return fmt.Errorf("encode configuration: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return configError{fmt.Errorf("create configuration directory: %w", err)}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return configError{fmt.Errorf("write %s: %w", tmp, err)}
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return configError{fmt.Errorf("chmod %s: %w", tmp, err)}
	}
	if err := os.Rename(tmp, path); err != nil {
		return configError{fmt.Errorf("replace %s: %w", path, err)}
	}
	return nil
}

// find returns the context called name, or nil.
func (c *Config) find(name string) *Context {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			return &c.Contexts[i]
		}
	}
	return nil
}

// put adds or replaces ctx.
func (c *Config) put(ctx Context) {
	if old := c.find(ctx.Name); old != nil {
		*old = ctx
		return
	}
	c.Contexts = append(c.Contexts, ctx)
}

// remove deletes the context called name and reports whether there was one.
func (c *Config) remove(name string) bool {
	for i := range c.Contexts {
		if c.Contexts[i].Name == name {
			c.Contexts = append(c.Contexts[:i], c.Contexts[i+1:]...)
			if c.CurrentContext == name {
				c.CurrentContext = ""
			}
			return true
		}
	}
	return false
}
