// Package tlsfiles serves a TLS certificate and key from their files and picks up a new
// pair written over them without a restart: garo-server's certificate
// (tls.Config.GetCertificate) and garo-agent's client certificate
// (tls.Config.GetClientCertificate). It reads a cached pair and, at most once per
// interval, looks at the files (a stat, on a handshake) and loads them again when one
// changed. It starts no goroutine, so it has nothing to stop.
package tlsfiles

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Reloader holds the current pair of certFile and keyFile.
type Reloader struct {
	certFile, keyFile string
	certKey, keyKey   string // their configuration keys, for errors
	interval          time.Duration
	now               func() time.Time
	log               *slog.Logger

	cur     atomic.Pointer[loaded]
	checkMu sync.Mutex   // one check at a time; handshakes meanwhile get the current pair
	checked atomic.Int64 // unix nanos of the last check
}

// loaded is a pair and what its files looked like when it was read.
type loaded struct {
	cert     *tls.Certificate
	certStat os.FileInfo
	keyStat  os.FileInfo
	notAfter time.Time
}

// Options say which files to serve.
type Options struct {
	CertFile, KeyFile string
	// CertKey and KeyKey are the configuration keys that name the files
	// ("server.tls.cert_file"), for errors.
	CertKey, KeyKey string
	// Interval is how often, at most, the files are looked at.
	Interval time.Duration
	Now      func() time.Time // nil: time.Now
	Log      *slog.Logger     // nil discards
}

// New loads the pair once (an error names the key of the file that is wrong) and
// returns a Reloader that checks the files at most once per interval.
func New(o Options) (*Reloader, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	r := &Reloader{certFile: o.CertFile, keyFile: o.KeyFile, certKey: o.CertKey, keyKey: o.KeyKey,
		interval: o.Interval, now: o.Now, log: o.Log}
	l, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cur.Store(l)
	r.checked.Store(r.now().UnixNano())
	return r, nil
}

// GetCertificate is for tls.Config.GetCertificate.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cur.Load().cert, nil
}

// GetClientCertificate is for tls.Config.GetClientCertificate.
func (r *Reloader) GetClientCertificate(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	r.maybeReload()
	return r.cur.Load().cert, nil
}

// Current is the pair served now.
func (r *Reloader) Current() *tls.Certificate { return r.cur.Load().cert }

// maybeReload checks the files when the interval has passed since the last check, unless
// another handshake is checking already. A pair that does not load (a half-written
// rotation: the certificate is new, the key not yet) keeps the old one, and the next
// check tries again.
func (r *Reloader) maybeReload() {
	now := r.now()
	if now.UnixNano()-r.checked.Load() < int64(r.interval) || !r.checkMu.TryLock() {
		return
	}
	defer r.checkMu.Unlock()
	r.checked.Store(now.UnixNano())
	cur := r.cur.Load()
	certStat, err1 := os.Stat(r.certFile)
	keyStat, err2 := os.Stat(r.keyFile)
	if err1 != nil || err2 != nil {
		r.log.Warn("TLS certificate files cannot be read: using the pair loaded before", "cert_file", r.certFile, "key_file", r.keyFile,
			"err", firstErr(err1, err2))
		return
	}
	if same(cur.certStat, certStat) && same(cur.keyStat, keyStat) {
		return
	}
	l, err := r.load()
	if err != nil {
		r.log.Warn("new TLS certificate files do not load: using the pair loaded before until they do", "err", err)
		return
	}
	r.cur.Store(l)
	r.log.Info("TLS certificate reloaded", "cert_file", r.certFile, "subject", l.cert.Leaf.Subject.String(),
		"not_after", l.notAfter.UTC().Format(time.RFC3339))
}

func (r *Reloader) load() (*loaded, error) {
	// Stat before reading: a file replaced between the two is read again at the next check.
	certStat, err := os.Stat(r.certFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.certKey, err)
	}
	keyStat, err := os.Stat(r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", r.keyKey, err)
	}
	pair, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("%s %s and %s %s: %w", r.certKey, r.certFile, r.keyKey, r.keyFile, err)
	}
	// LoadX509KeyPair parses the leaf (Go 1.23 and later).
	return &loaded{cert: &pair, certStat: certStat, keyStat: keyStat, notAfter: pair.Leaf.NotAfter}, nil
}

// same reports whether a file still is what it was: the same inode (a rename makes a new
// one), modification time and size.
func same(a, b os.FileInfo) bool {
	return os.SameFile(a, b) && a.ModTime().Equal(b.ModTime()) && a.Size() == b.Size()
}

func firstErr(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
