package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
)

// Signature errors. All are answered 401.
var (
	ErrMissingSignature   = errors.New("missing X-Hub-Signature-256 header")
	ErrMalformedSignature = errors.New(`X-Hub-Signature-256 must be "sha256=" followed by 64 hex digits`)
	ErrBadSignature       = errors.New("X-Hub-Signature-256 does not match the body")
)

// CheckHeader checks, before anything of the body is read, that a delivery carries an
// X-Hub-Signature-256 of the right form ("sha256=" and 64 hex digits), and returns the
// signature's bytes. sha1Header is X-Hub-Signature: GitHub sends both, and a request with
// only the SHA-1 one is refused, saying so.
func CheckHeader(header, sha1Header string) ([]byte, error) {
	if header == "" {
		if sha1Header != "" {
			return nil, fmt.Errorf("%w: only X-Hub-Signature (SHA-1) was sent, which is not accepted", ErrMissingSignature)
		}
		return nil, ErrMissingSignature
	}
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok || len(hexSum) != 2*sha256.Size {
		return nil, ErrMalformedSignature
	}
	sum, err := hex.DecodeString(hexSum)
	if err != nil {
		return nil, ErrMalformedSignature
	}
	return sum, nil
}

// Verify checks header ("sha256=<hex HMAC-SHA256 of body>") against each secret, in constant
// time. Only the SHA-256 signature counts: GitHub also sends a SHA-1 X-Hub-Signature, and a
// request carrying only that one is refused.
func Verify(header string, body []byte, secrets [][]byte) error {
	_, err := Match(header, body, secrets)
	return err
}

// Match is Verify that also says which secret signed body: its index in secrets. Every
// secret is tried, each in constant time, whichever matches, so the time taken does not
// tell which one did (or how far down the list it is).
func Match(header string, body []byte, secrets [][]byte) (int, error) {
	got, err := CheckHeader(header, "")
	if err != nil {
		return -1, err
	}
	found := -1
	for i, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) && found < 0 {
			found = i
		}
	}
	if found < 0 {
		return -1, ErrBadSignature
	}
	return found, nil
}

// Sign returns the X-Hub-Signature-256 value of body with secret, as GitHub computes it.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
