package docker

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/distribution/reference"
	"github.com/docker/docker/api/types/registry"
)

// RegistryAuth holds the credentials the provider pulls with, by registry host as an
// image reference names it ("docker.io", "ghcr.io", "registry.example.com:5000").
type RegistryAuth map[string]registry.AuthConfig

// LoadRegistryAuth reads the "auths" of a Docker client config file (the format of
// ~/.docker/config.json that `docker login` writes): per registry either "auth"
// (base64 of user:password), "username" and "password", or "identitytoken". Credential
// helpers ("credsStore", "credHelpers") are not run; for a registry that only has one
// a warning is returned. The credentials are secrets: no error or warning quotes them.
func LoadRegistryAuth(path string) (RegistryAuth, []string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("registry auth file: %w", err)
	}
	var file struct {
		Auths map[string]struct {
			Auth          string `json:"auth"`
			Username      string `json:"username"`
			Password      string `json:"password"`
			IdentityToken string `json:"identitytoken"`
		} `json:"auths"`
		CredsStore  string            `json:"credsStore"`
		CredHelpers map[string]string `json:"credHelpers"`
	}
	if err := json.Unmarshal(b, &file); err != nil {
		return nil, nil, fmt.Errorf("registry auth file %s: not a Docker config file: %w", path, err)
	}
	out := RegistryAuth{}
	var warnings []string
	for key, a := range file.Auths {
		host := registryHost(key)
		c := registry.AuthConfig{Username: a.Username, Password: a.Password, IdentityToken: a.IdentityToken, ServerAddress: host}
		if a.Auth != "" {
			raw, err := base64.StdEncoding.DecodeString(a.Auth)
			user, pass, ok := strings.Cut(string(raw), ":")
			if err != nil || !ok {
				return nil, nil, fmt.Errorf("registry auth file %s: auths[%q].auth is not base64 of user:password", path, key)
			}
			c.Username, c.Password = user, pass
		}
		if c.Username == "" && c.IdentityToken == "" {
			if file.CredsStore == "" && file.CredHelpers[key] == "" {
				warnings = append(warnings, fmt.Sprintf("registry %s has no credentials in %s", host, path))
			}
			continue
		}
		out[host] = c
	}
	if file.CredsStore != "" || len(file.CredHelpers) > 0 {
		warnings = append(warnings, fmt.Sprintf("%s names credential helpers (credsStore, credHelpers), which garo-agent does not run: "+
			"only credentials written inline under \"auths\" are used", path))
	}
	return out, warnings, nil
}

// registryHost turns a key of "auths" into the host an image reference names:
// "https://index.docker.io/v1/" → "docker.io", "https://ghcr.io" → "ghcr.io".
func registryHost(key string) string {
	h := strings.TrimPrefix(strings.TrimPrefix(key, "https://"), "http://")
	h, _, _ = strings.Cut(h, "/")
	switch h {
	case "index.docker.io", "registry-1.docker.io":
		return "docker.io"
	}
	return h
}

// For returns the encoded X-Registry-Auth for image ref, "" when no credentials apply.
func (a RegistryAuth) For(ref string) (string, error) {
	if len(a) == 0 {
		return "", nil
	}
	named, err := reference.ParseNormalizedNamed(ref)
	if err != nil {
		return "", fmt.Errorf("image %q: %w", ref, err)
	}
	c, ok := a[reference.Domain(named)]
	if !ok {
		return "", nil
	}
	enc, err := registry.EncodeAuthConfig(c)
	if err != nil {
		return "", errors.New("encode registry credentials")
	}
	return enc, nil
}
