package docker

import (
	"encoding/base64"
	"encoding/json"
	"regexp"
	"slices"
	"strings"
)

// redactedMark replaces a secret in a log tail.
const redactedMark = "[redacted]"

// minSecretPart is the shortest piece of a secret masked on its own: a base64 run or a
// JSON string value of the JIT configuration at least this long. Shorter pieces ("OAuth",
// "1", "true") carry no secret and are words a log needs.
const minSecretPart = 16

// secretRun is a run of characters of base64 (standard and URL alphabet): the pieces a
// runner prints when it wraps an encoded secret over lines or quotes part of it.
var secretRun = regexp.MustCompile(`[A-Za-z0-9+/=_-]{16,}`)

// maskSecret replaces in s the runner credential secret (the JIT configuration, or a
// registration token) in every form a runner may print it: as given; base64-decoded (the
// JIT configuration is base64 of a JSON object); each value of that object (themselves
// base64 of JSON: .runner, .credentials, .credentials_rsaparams), encoded and decoded;
// the string values inside those (the OAuth client id, the RSA key's parameters); and any
// run of base64 characters of at least minSecretPart that is part of one of the encoded
// forms, which catches a secret wrapped over lines or cut at the tail's start.
func maskSecret(s, secret string) string {
	if secret == "" {
		return s
	}
	whole, parts := secretForms(secret)
	// Longest first, so that a form containing another is replaced whole.
	slices.SortFunc(whole, func(a, b string) int { return len(b) - len(a) })
	for _, w := range whole {
		s = strings.ReplaceAll(s, w, redactedMark)
	}
	isPart := func(run string) bool {
		for _, p := range parts {
			if len(run) >= minSecretPart && strings.Contains(p, run) {
				return true
			}
		}
		return false
	}
	return secretRun.ReplaceAllStringFunc(s, func(run string) string {
		if isPart(run) {
			return redactedMark
		}
		// "JITCONFIG=eyJ…": '=' is base64's padding, only ever at the end, so the pieces
		// between are checked on their own.
		pieces := strings.Split(run, "=")
		for i, p := range pieces {
			if isPart(p) {
				pieces[i] = redactedMark
			}
		}
		return strings.Join(pieces, "=")
	})
}

// secretForms returns the strings to replace wherever they occur (whole) and the encoded
// strings a base64 run is checked against (parts).
func secretForms(secret string) (whole, parts []string) {
	add := func(v string) {
		if v = strings.TrimSpace(v); len(v) >= minSecretPart && !slices.Contains(whole, v) {
			whole = append(whole, v)
		}
	}
	add(secret)
	if len(secret) < minSecretPart {
		whole = append(whole, secret) // a short secret (a test's) is still masked as given
	}
	parts = append(parts, secret)
	outer, ok := decodeBase64(secret)
	if !ok {
		return whole, parts
	}
	add(outer)
	var doc map[string]any
	if json.Unmarshal([]byte(outer), &doc) != nil {
		return whole, parts
	}
	for _, v := range doc {
		enc, isString := v.(string)
		if !isString {
			continue
		}
		add(enc)
		parts = append(parts, enc)
		inner, ok := decodeBase64(enc)
		if !ok {
			continue
		}
		add(inner)
		var value any
		if json.Unmarshal([]byte(inner), &value) == nil {
			for _, leaf := range stringLeaves(value) {
				add(leaf)
				parts = append(parts, leaf)
			}
		}
	}
	return whole, parts
}

// decodeBase64 decodes s in the standard or the URL alphabet, padded or not.
func decodeBase64(s string) (string, bool) {
	s = strings.TrimSpace(s)
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if b, err := enc.DecodeString(s); err == nil {
			return string(b), true
		}
	}
	return "", false
}

// stringLeaves returns every string value in a decoded JSON value.
func stringLeaves(v any) []string {
	var out []string
	switch v := v.(type) {
	case string:
		out = append(out, v)
	case map[string]any:
		for _, x := range v {
			out = append(out, stringLeaves(x)...)
		}
	case []any:
		for _, x := range v {
			out = append(out, stringLeaves(x)...)
		}
	}
	return out
}
