package garoctl

import (
	"errors"
	"strings"

	portalapi "github.com/garo-dev/garo/portal-api"
)

// usageError is a bad argument or flag: exit code 2 with the usage shown.
type usageError struct{ error }

func (e usageError) Unwrap() error { return e.error }

// configError is a missing or broken configuration (no server, no token, an unreadable
// file): exit code 2 without the usage.
type configError struct{ error }

func (e configError) Unwrap() error { return e.error }

// isCobraUsage recognizes cobra's own argument errors, which it returns unwrapped.
func isCobraUsage(err error) bool {
	s := err.Error()
	return strings.HasPrefix(s, "unknown command") || strings.HasPrefix(s, "unknown flag") ||
		strings.HasPrefix(s, "unknown shorthand flag") || strings.Contains(s, "required flag(s)") ||
		strings.HasPrefix(s, "flag needs an argument") || strings.HasPrefix(s, "invalid argument")
}

// errorMessage is err's text, with the server's field errors listed when it sent some.
func errorMessage(err error) string {
	var apiErr *portalapi.APIError
	if !errors.As(err, &apiErr) || len(apiErr.Fields) == 0 {
		return err.Error()
	}
	var b strings.Builder
	b.WriteString(err.Error())
	for _, f := range apiErr.Fields {
		b.WriteString("\n  " + f.Field + ": " + f.Message)
	}
	return b.String()
}
