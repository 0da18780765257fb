package garoctl

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/garo-dev/garo/portal-api/client"
)

// DefaultServer is the server URL used when nothing else names one.
const DefaultServer = "http://127.0.0.1:8080"

// globals are the persistent flags shared by every command.
type globals struct {
	env        Env
	io         IO
	configFile string
	context    string
	server     string
	tokenFile  string
	caFile     string
	certFile   string
	keyFile    string
	insecure   bool
	output     string
}

func (g *globals) bindFlags(root *cobra.Command) {
	pf := root.PersistentFlags()
	pf.StringVar(&g.configFile, "config", "", "configuration file (default: env "+EnvConfig+", else $XDG_CONFIG_HOME/garoctl/config.yaml)")
	pf.StringVar(&g.context, "context", "", "use this context of the configuration file instead of the current one")
	pf.StringVar(&g.server, "server", "", "garo-server URL (default: env "+EnvServer+", else the context's)")
	// The token is never a flag value: it would show in process listings and in --help.
	pf.StringVar(&g.tokenFile, "token-file", "", "file holding the API token (default: env "+EnvToken+", else the context's)")
	pf.StringVar(&g.caFile, "ca-file", "", "PEM bundle of the CAs that sign the server's certificate")
	pf.StringVar(&g.certFile, "cert-file", "", "client certificate (PEM) for a server that asks for one")
	pf.StringVar(&g.keyFile, "key-file", "", "private key (PEM) of --cert-file")
	pf.BoolVar(&g.insecure, "insecure-skip-verify", false, "do not verify the server's certificate (insecure: for tests only)")
	pf.StringVarP(&g.output, "output", "o", "", "output format: table (default), wide, json or yaml")
	_ = root.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"table", "wide", "json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = root.RegisterFlagCompletionFunc("context", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		cfg, _, err := g.loadConfig()
		if err != nil {
			return nil, cobra.ShellCompDirectiveError
		}
		var names []string
		for _, c := range cfg.Contexts {
			names = append(names, c.Name)
		}
		return names, cobra.ShellCompDirectiveNoFileComp
	})
}

// resolve is the connection this run uses: flags, then the environment, then the
// context of the configuration file.
func (g *globals) resolve() (Context, error) {
	var ctx Context
	cfg, _, err := g.loadConfig()
	if err != nil {
		return ctx, err
	}
	name := g.context
	if name == "" {
		name = cfg.CurrentContext
	}
	if name != "" {
		c := cfg.find(name)
		if c == nil {
			if g.context != "" {
				return ctx, configError{fmt.Errorf("no context %q in the configuration file", name)}
			}
		} else {
			ctx = *c
		}
	}
	if s, ok := g.env(EnvServer); ok && s != "" && g.context == "" {
		ctx.Server = s
	}
	if t, ok := g.env(EnvToken); ok && strings.TrimSpace(t) != "" && g.context == "" {
		ctx.Token = strings.TrimSpace(t)
	}
	if g.server != "" {
		ctx.Server = g.server
	}
	if g.tokenFile != "" {
		t, err := readTokenFile(g.tokenFile)
		if err != nil {
			return ctx, err
		}
		ctx.Token = t
	}
	if g.caFile != "" {
		ctx.CAFile = g.caFile
	}
	if g.certFile != "" {
		ctx.CertFile = g.certFile
	}
	if g.keyFile != "" {
		ctx.KeyFile = g.keyFile
	}
	if g.insecure {
		ctx.InsecureSkipVerify = true
	}
	if ctx.Server == "" {
		ctx.Server = DefaultServer
	}
	return ctx, nil
}

func readTokenFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", configError{fmt.Errorf("read token file: %w", err)}
	}
	t := strings.TrimSpace(string(b))
	if t == "" {
		return "", configError{fmt.Errorf("token file %s is empty", path)}
	}
	return t, nil
}

// client builds an API client from the flags, the environment and the configuration.
func (g *globals) client() (*client.Client, error) {
	ctx, err := g.resolve()
	if err != nil {
		return nil, err
	}
	if ctx.Token == "" {
		return nil, configError{errors.New("no API token: run garoctl login, set " + EnvToken + " or pass --token-file")}
	}
	return g.clientFor(ctx)
}

// clientFor builds a client of ctx, with its TLS settings.
func (g *globals) clientFor(ctx Context) (*client.Client, error) {
	tc, err := g.tlsConfig(ctx)
	if err != nil {
		return nil, err
	}
	var opts []client.Option
	if tc != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tc
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: tr, Timeout: client.DefaultTimeout}))
	}
	c, err := client.New(ctx.Server, ctx.Token, opts...)
	if err != nil {
		return nil, configError{err}
	}
	return c, nil
}

// tlsConfig is ctx's TLS configuration, nil when it has nothing to change.
func (g *globals) tlsConfig(ctx Context) (*tls.Config, error) {
	if ctx.CAFile == "" && ctx.CertFile == "" && ctx.KeyFile == "" && !ctx.InsecureSkipVerify {
		return nil, nil
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12}
	if ctx.CAFile != "" {
		pem, err := os.ReadFile(ctx.CAFile)
		if err != nil {
			return nil, configError{fmt.Errorf("read CA bundle: %w", err)}
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, configError{fmt.Errorf("CA bundle %s holds no PEM certificate", ctx.CAFile)}
		}
		tc.RootCAs = pool
	}
	if (ctx.CertFile == "") != (ctx.KeyFile == "") {
		return nil, configError{errors.New("a client certificate needs both --cert-file and --key-file")}
	}
	if ctx.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(ctx.CertFile, ctx.KeyFile)
		if err != nil {
			return nil, configError{fmt.Errorf("load client certificate: %w", err)}
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	if ctx.InsecureSkipVerify {
		fmt.Fprintln(g.errOut(), "garoctl: WARNING: not verifying the server's certificate (--insecure-skip-verify): anyone on the path can read the token")
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

// now is the clock of this run.
func (g *globals) now() time.Time {
	if g.io.Now != nil {
		return g.io.Now()
	}
	return time.Now()
}

func (g *globals) errOut() interface{ Write([]byte) (int, error) } {
	if g.io.Err != nil {
		return g.io.Err
	}
	return os.Stderr
}
