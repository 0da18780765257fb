// Package tlstest makes the certificates of TLS tests with crypto/x509: a private CA, a
// server certificate for 127.0.0.1 and client certificates, written as PEM files into a
// test's directory. Nothing leaves the process; every key is a fresh ECDSA P-256 key.
//
// Test support only: no production binary imports it.
package tlstest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// CA is a private certificate authority.
type CA struct {
	Cert    *x509.Certificate
	Key     crypto.Signer
	CertPEM []byte
	// File holds CertPEM: a CA bundle for a client, or a client CA for a server.
	File string
}

// Pair is a certificate and its key, in memory and as files.
type Pair struct {
	Cert     *x509.Certificate
	Key      *ecdsa.PrivateKey
	CertPEM  []byte
	KeyPEM   []byte
	CertFile string
	KeyFile  string
}

// NewCA makes a CA named name and writes its certificate to dir/name-ca.pem.
func NewCA(t testing.TB, dir, name string) *CA {
	t.Helper()
	key := newKey(t)
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name + " test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageCRLSign, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	ca := &CA{Cert: cert, Key: key, CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
	ca.File = filepath.Join(dir, name+"-ca.pem")
	write(t, ca.File, ca.CertPEM)
	return ca
}

// Server issues a server certificate for 127.0.0.1 and localhost, written to
// dir/name.pem and dir/name-key.pem.
func (ca *CA) Server(t testing.TB, dir, name string) *Pair {
	t.Helper()
	return ca.issue(t, dir, name, newKey(t), func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}
		c.IPAddresses = []net.IP{net.IPv4(127, 0, 0, 1)}
		c.DNSNames = []string{"localhost"}
	})
}

// Client issues a client certificate named name, on a new key.
func (ca *CA) Client(t testing.TB, dir, name string) *Pair {
	t.Helper()
	return ca.ClientWithKey(t, dir, name, newKey(t))
}

// ClientWithKey issues a client certificate named name on key: a renewal keeps the key.
func (ca *CA) ClientWithKey(t testing.TB, dir, name string, key *ecdsa.PrivateKey) *Pair {
	t.Helper()
	return ca.issue(t, dir, name, key, func(c *x509.Certificate) {
		c.ExtKeyUsage = []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}
	})
}

func (ca *CA) issue(t testing.TB, dir, name string, key *ecdsa.PrivateKey, shape func(*x509.Certificate)) *Pair {
	t.Helper()
	tmpl := &x509.Certificate{
		SerialNumber: serial(t), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	shape(tmpl)
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, key.Public(), ca.Key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	p := &Pair{
		Cert: cert, Key: key,
		CertPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		KeyPEM:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}),
	}
	p.CertFile, p.KeyFile = filepath.Join(dir, name+".pem"), filepath.Join(dir, name+"-key.pem")
	write(t, p.CertFile, p.CertPEM)
	write(t, p.KeyFile, p.KeyPEM)
	return p
}

// Pool is a certificate pool of the CA alone.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// TLSCertificate is p for a tls.Config.
func (p *Pair) TLSCertificate() tls.Certificate {
	return tls.Certificate{Certificate: [][]byte{p.Cert.Raw}, PrivateKey: p.Key, Leaf: p.Cert}
}

// KeySHA256 is the hex SHA-256 of the certificate's public key (its SubjectPublicKeyInfo).
func (p *Pair) KeySHA256() string {
	sum := sha256.Sum256(p.Cert.RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

// WriteTo writes p's certificate and key over the files of dst (a rotation in place).
func (p *Pair) WriteTo(t testing.TB, dst *Pair) {
	t.Helper()
	write(t, dst.KeyFile, p.KeyPEM)
	write(t, dst.CertFile, p.CertPEM)
}

func newKey(t testing.TB) *ecdsa.PrivateKey {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return key
}

// NewKey is a fresh key for ClientWithKey.
func NewKey(t testing.TB) *ecdsa.PrivateKey { t.Helper(); return newKey(t) }

func serial(t testing.TB) *big.Int {
	t.Helper()
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func write(t testing.TB, path string, data []byte) {
	t.Helper()
	// Write and rename, so that a reader never sees half a file.
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}
