package githubsim

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"
)

// Identifiers and secrets in GitHub's formats.

const alnum = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// randomAlnum returns n random letters and digits, as in ghs_ tokens.
func randomAlnum(n int) string {
	b := make([]byte, n)
	for i := range b {
		v, err := rand.Int(rand.Reader, big.NewInt(int64(len(alnum))))
		if err != nil {
			panic(fmt.Sprintf("githubsim: read random: %v", err)) // crypto/rand does not fail on Linux
		}
		b[i] = alnum[v.Int64()]
	}
	return string(b)
}

// randomHex returns n random hex digits.
func randomHex(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(fmt.Sprintf("githubsim: read random: %v", err))
	}
	return hex.EncodeToString(b)[:n]
}

// newGUID returns a random version-4 UUID, the form of X-GitHub-Delivery.
func newGUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(fmt.Sprintf("githubsim: read random: %v", err))
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// newRequestID returns an id like GitHub's X-GitHub-Request-Id, e.g. "CF8C:2B8A:1A2B3C:1B2C3D:65A1B2C3".
func newRequestID() string {
	h := strings.ToUpper(randomHex(30))
	return h[0:4] + ":" + h[4:8] + ":" + h[8:15] + ":" + h[15:22] + ":" + h[22:30]
}
