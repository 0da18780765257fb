package tlsfiles_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/garo-dev/garo/internal/testkit"
	"github.com/garo-dev/garo/internal/testkit/tlstest"
	"github.com/garo-dev/garo/shared/tlsfiles"
)

// TestReload: the files are looked at no more than once per interval; a new pair is
// served after it; a half-written rotation (a new certificate, the old key) keeps the
// pair before until the key follows.
func TestReload(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	first := ca.Server(t, dir, "server")
	clock := testkit.NewClock(time.Now())
	log, logs := testkit.TextLogs()
	r, err := tlsfiles.New(tlsfiles.Options{
		CertFile: first.CertFile, KeyFile: first.KeyFile, CertKey: "x.cert_file", KeyKey: "x.key_file",
		Interval: 5 * time.Second, Now: clock.Now, Log: log,
	})
	if err != nil {
		t.Fatal(err)
	}
	serial := func() string {
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.SerialNumber.String()
	}
	if serial() != first.Cert.SerialNumber.String() {
		t.Fatal("not the first pair")
	}
	second := ca.Server(t, t.TempDir(), "server")
	// Half a rotation: the certificate is new, the key is not yet.
	if err := os.WriteFile(first.CertFile, second.CertPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	clock.Advance(6 * time.Second)
	if serial() != first.Cert.SerialNumber.String() || !strings.Contains(logs.String(), "do not load") {
		t.Fatalf("a mismatched pair was served, or not reported:\n%s", logs)
	}
	second.WriteTo(t, first)
	clock.Advance(time.Second)
	if serial() != first.Cert.SerialNumber.String() {
		t.Fatal("the files were looked at again within the interval")
	}
	clock.Advance(5 * time.Second)
	if serial() != second.Cert.SerialNumber.String() {
		t.Fatal("the complete new pair was not served after the interval")
	}
	if c, err := r.GetClientCertificate(nil); err != nil || !c.Leaf.Equal(second.Cert) {
		t.Fatalf("GetClientCertificate = %v, %v", c, err)
	}
}

// TestNewNamesTheKey: a missing or mismatched file is an error naming its key.
func TestNewNamesTheKey(t *testing.T) {
	dir := t.TempDir()
	ca := tlstest.NewCA(t, dir, "ca")
	a, b := ca.Client(t, dir, "a"), ca.Client(t, dir, "b")
	for name, tc := range map[string]struct{ cert, key, want string }{
		"missing cert": {dir + "/nope.pem", a.KeyFile, "x.cert_file: "},
		"missing key":  {a.CertFile, dir + "/nope.pem", "x.key_file: "},
		"mismatch":     {a.CertFile, b.KeyFile, "x.cert_file " + a.CertFile + " and x.key_file " + b.KeyFile},
	} {
		_, err := tlsfiles.New(tlsfiles.Options{CertFile: tc.cert, KeyFile: tc.key, CertKey: "x.cert_file", KeyKey: "x.key_file", Interval: time.Second})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
	}
}
