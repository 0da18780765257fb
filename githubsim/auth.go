package githubsim

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

type callerKind int

const (
	callerAnonymous callerKind = iota
	callerApp
	callerInstallation
	callerPAT
)

// caller is who made a REST call.
type caller struct {
	kind  callerKind
	token *tokenState // for callerInstallation
}

func (c caller) installationID() int64 {
	if c.token == nil {
		return 0
	}
	return c.token.installationID
}

// tokenState is an installation access token (ghs_...).
type tokenState struct {
	installationID int64
	repoIDs        map[int64]bool // nil: every repository of the installation
	permissions    map[string]string
	expires        time.Time
}

// The user behind PATs, the sender of webhooks and the actor of workflow runs.
const (
	simUserID    = 583231
	simUserLogin = "octocat"
)

// installationPermissions are what the App was granted on every installation: enough to
// manage self-hosted runners and read Actions jobs.
var installationPermissions = map[string]string{
	"actions":        "read",
	"administration": "write",
	"metadata":       "read",
	// Organisation runner groups: "GitHub Apps must have ... the
	// organization_self_hosted_runners permission for organizations"
	// (https://docs.github.com/rest/actions/self-hosted-runner-groups).
	"organization_self_hosted_runners": "write",
}

// JWT limits as GitHub enforces them, with the clock drift GitHub tolerates.
const (
	jwtMaxLifetime = 10 * time.Minute
	jwtClockSkew   = 60 * time.Second
)

// authenticate checks the call's credential against its route, resolves {owner}/{repo}
// and checks scope and permission. It answers the call itself and returns false when the
// call may not go on.
func (s *Sim) authenticate(c *call) bool {
	cred := credential(c.r.Header.Get("Authorization"))
	fail := func(status int, msg string) bool {
		s.setRateHeaders(c, s.rateSnapshot())
		s.writeError(c, status, msg, c.doc())
		return false
	}
	switch c.rt.auth {
	case authApp:
		if cred == "" {
			return fail(http.StatusUnauthorized, "A JSON web token could not be decoded")
		}
		if msg := s.verifyJWT(cred); msg != "" {
			return fail(http.StatusUnauthorized, msg)
		}
		c.who = caller{kind: callerApp}
	case authRepo:
		if cred == "" {
			return fail(http.StatusUnauthorized, "Requires authentication")
		}
		who, ok := s.tokenCaller(cred)
		if !ok {
			return fail(http.StatusUnauthorized, "Bad credentials")
		}
		c.who = who
	case authOptional:
		switch {
		case cred == "":
			c.who = caller{kind: callerAnonymous}
		case looksLikeJWT(cred):
			if msg := s.verifyJWT(cred); msg != "" {
				return fail(http.StatusUnauthorized, msg)
			}
			c.who = caller{kind: callerApp}
		default:
			who, ok := s.tokenCaller(cred)
			if !ok {
				return fail(http.StatusUnauthorized, "Bad credentials")
			}
			c.who = who
		}
	}
	if _, ok := c.params["org"]; ok {
		return s.authorizeOrg(c, fail)
	}
	if _, ok := c.params["repo"]; !ok {
		return true
	}
	s.mu.Lock()
	repo, ok := s.repoLocked(c.param("owner") + "/" + c.param("repo"))
	s.mu.Unlock()
	if !ok {
		return fail(http.StatusNotFound, "Not Found")
	}
	c.repo = repo
	if c.who.kind == callerInstallation {
		t := c.who.token
		// GitHub hides what a token may not see behind 404.
		if t.installationID != repo.owner.installation.id || (t.repoIDs != nil && !t.repoIDs[repo.id]) {
			return fail(http.StatusNotFound, "Not Found")
		}
		if c.rt.perm != "" && !permits(t.permissions[c.rt.perm], c.rt.level) {
			return fail(http.StatusForbidden, "Resource not accessible by integration")
		}
	}
	return true
}

// credential takes the secret out of an Authorization header: "token X", "Bearer X" or
// Basic with the token as password.
func credential(h string) string {
	scheme, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok {
		return ""
	}
	rest = strings.TrimSpace(rest)
	switch strings.ToLower(scheme) {
	case "token", "bearer":
		return rest
	case "basic":
		raw, err := base64.StdEncoding.DecodeString(rest)
		if err != nil {
			return ""
		}
		_, pass, _ := strings.Cut(string(raw), ":")
		return pass
	}
	return ""
}

func looksLikeJWT(cred string) bool { return strings.Count(cred, ".") == 2 }

func permits(have, want string) bool {
	switch want {
	case "read":
		return have == "read" || have == "write" || have == "admin"
	case "write":
		return have == "write" || have == "admin"
	}
	return false
}

// tokenCaller resolves a live installation token or a configured PAT.
func (s *Sim) tokenCaller(cred string) (caller, bool) {
	if strings.HasPrefix(cred, "ghs_") {
		s.mu.Lock()
		defer s.mu.Unlock()
		t, ok := s.tokens[cred]
		if !ok || !s.opts.Now().Before(t.expires) {
			return caller{}, false
		}
		return caller{kind: callerInstallation, token: t}, true
	}
	for _, pat := range s.opts.PATs {
		if pat != "" && subtle.ConstantTimeCompare([]byte(pat), []byte(cred)) == 1 {
			return caller{kind: callerPAT}, true
		}
	}
	return caller{}, false
}

// verifyJWT checks an App JWT as GitHub does; it returns "" when the JWT is good and
// GitHub's message when it is not.
func (s *Sim) verifyJWT(raw string) string {
	const undecodable = "A JSON web token could not be decoded"
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return &s.key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	if err != nil || !tok.Valid {
		return undecodable
	}
	claims, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return undecodable
	}
	switch iss := claims["iss"].(type) {
	case json.Number:
		if id, err := iss.Int64(); err != nil || id != s.opts.AppID {
			return "Integration not found"
		}
	case string:
		if iss != strconv.FormatInt(s.opts.AppID, 10) && iss != s.clientID {
			return "Integration not found"
		}
	default:
		return "'Issuer' claim ('iss') must be an Integer"
	}
	iat, okIat := numericClaim(claims["iat"])
	exp, okExp := numericClaim(claims["exp"])
	now := s.opts.Now()
	if !okIat || iat.After(now.Add(jwtClockSkew)) {
		return "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if !okExp || !exp.After(now) {
		return "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	if exp.Sub(iat) > jwtMaxLifetime || exp.After(now.Add(jwtMaxLifetime+jwtClockSkew)) {
		return "'Expiration time' claim ('exp') is too far in the future"
	}
	return ""
}

func numericClaim(v any) (time.Time, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return time.Time{}, false
	}
	f, err := n.Float64()
	if err != nil {
		return time.Time{}, false
	}
	return time.Unix(int64(f), 0), true
}

// authorizeOrg resolves {org} for an organisation route; like repository routes, GitHub
// hides an organisation a token's installation does not cover behind 404.
func (s *Sim) authorizeOrg(c *call, fail func(int, string) bool) bool {
	s.mu.Lock()
	o, ok := s.owners[strings.ToLower(c.param("org"))]
	s.mu.Unlock()
	if !ok {
		return fail(http.StatusNotFound, "Not Found")
	}
	if c.who.kind == callerInstallation {
		t := c.who.token
		if o.installation == nil || t.installationID != o.installation.id {
			return fail(http.StatusNotFound, "Not Found")
		}
		if c.rt.perm != "" && !permits(t.permissions[c.rt.perm], c.rt.level) {
			return fail(http.StatusForbidden, "Resource not accessible by integration")
		}
	}
	c.org = o
	return true
}
