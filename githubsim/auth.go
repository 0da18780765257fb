package githubsim

import (
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
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
	app   *simApp     // for callerApp and callerInstallation
}

// appID is the id of the App behind the call, 0 for none.
func (c caller) appID() int64 {
	if c.app == nil {
		return 0
	}
	return c.app.id
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
		app, msg := s.verifyJWT(cred)
		if msg != "" {
			return fail(http.StatusUnauthorized, msg)
		}
		c.who = caller{kind: callerApp, app: app}
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
			app, msg := s.verifyJWT(cred)
			if msg != "" {
				return fail(http.StatusUnauthorized, msg)
			}
			c.who = caller{kind: callerApp, app: app}
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
		if !slices.ContainsFunc(repo.owner.installs, func(in *installState) bool { return in.id == t.installationID }) ||
			(t.repoIDs != nil && !t.repoIDs[repo.id]) {
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
		return caller{kind: callerInstallation, token: t, app: s.installations[t.installationID].app}, true
	}
	for _, pat := range s.opts.PATs {
		if pat != "" && subtle.ConstantTimeCompare([]byte(pat), []byte(cred)) == 1 {
			return caller{kind: callerPAT}, true
		}
	}
	return caller{}, false
}

// verifyJWT checks an App JWT as GitHub does: the App its issuer names, then the
// signature with that App's key. It returns the App and "" when the JWT is good, GitHub's
// message when it is not.
func (s *Sim) verifyJWT(raw string) (*simApp, string) {
	const undecodable = "A JSON web token could not be decoded"
	// The issuer picks the App, whose key then checks the signature.
	unverified, _, err := jwt.NewParser(jwt.WithJSONNumber()).ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return nil, undecodable
	}
	uclaims, _ := unverified.Claims.(jwt.MapClaims)
	var app *simApp
	switch iss := uclaims["iss"].(type) {
	case json.Number:
		if id, err := iss.Int64(); err == nil {
			app = s.appByID(id)
		}
	case string:
		for _, a := range s.apps {
			if iss == strconv.FormatInt(a.id, 10) || iss == a.clientID {
				app = a
			}
		}
	default:
		if iss != nil {
			return nil, "'Issuer' claim ('iss') must be an Integer"
		}
	}
	key := s.apps[0].key
	if app != nil {
		key = app.key
	}
	tok, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return &key.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation(), jwt.WithJSONNumber())
	if err != nil || !tok.Valid {
		return nil, undecodable
	}
	claims, ok := tok.Claims.(jwt.MapClaims)
	if !ok {
		return nil, undecodable
	}
	switch claims["iss"].(type) {
	case json.Number, string:
		if app == nil {
			return nil, "Integration not found"
		}
	default:
		return nil, "'Issuer' claim ('iss') must be an Integer"
	}
	iat, okIat := numericClaim(claims["iat"])
	exp, okExp := numericClaim(claims["exp"])
	now := s.opts.Now()
	if !okIat || iat.After(now.Add(jwtClockSkew)) {
		return nil, "'Issued at' claim ('iat') must be an Integer representing the time that the assertion was issued"
	}
	if !okExp || !exp.After(now) {
		return nil, "'Expiration time' claim ('exp') must be a numeric value representing the future time at which the assertion expires"
	}
	if exp.Sub(iat) > jwtMaxLifetime || exp.After(now.Add(jwtMaxLifetime+jwtClockSkew)) {
		return nil, "'Expiration time' claim ('exp') is too far in the future"
	}
	return app, ""
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
		if !slices.ContainsFunc(o.installs, func(in *installState) bool { return in.id == t.installationID }) {
			return fail(http.StatusNotFound, "Not Found")
		}
		if c.rt.perm != "" && !permits(t.permissions[c.rt.perm], c.rt.level) {
			return fail(http.StatusForbidden, "Resource not accessible by integration")
		}
	}
	c.org = o
	return true
}
