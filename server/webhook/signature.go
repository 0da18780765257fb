package webhook

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"strings"
)

// Signature errors. Both are answered 401.
var (
	ErrMissingSignature = errors.New("missing X-Hub-Signature-256 header (the SHA-1 X-Hub-Signature is not accepted)")
	ErrBadSignature     = errors.New("X-Hub-Signature-256 does not match the body")
)

// Verify checks header ("sha256=<hex HMAC-SHA256 of body>") against each secret, in constant
// time. Only the SHA-256 signature counts: GitHub also sends a SHA-1 X-Hub-Signature, and a
// request carrying only that one is refused.
func Verify(header string, body []byte, secrets [][]byte) error {
	if header == "" {
		return ErrMissingSignature
	}
	hexSum, ok := strings.CutPrefix(header, "sha256=")
	if !ok {
		return ErrBadSignature
	}
	got, err := hex.DecodeString(hexSum)
	if err != nil || len(got) != sha256.Size {
		return ErrBadSignature
	}
	for _, secret := range secrets {
		mac := hmac.New(sha256.New, secret)
		mac.Write(body)
		if hmac.Equal(got, mac.Sum(nil)) {
			return nil
		}
	}
	return ErrBadSignature
}

// Sign returns the X-Hub-Signature-256 value of body with secret, as GitHub computes it.
func Sign(body, secret []byte) string {
	mac := hmac.New(sha256.New, secret)
	mac.Write(body)
	return "sha256=" + hex.EncodeToString(mac.Sum(nil))
}
