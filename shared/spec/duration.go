package spec

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"
)

// Duration is a time.Duration that travels as a Go duration string ("90s", "5m", "1h30m").
type Duration time.Duration

var durationType = reflect.TypeOf(Duration(0))

// D returns d as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// String formats d the way time.Duration does.
func (d Duration) String() string { return time.Duration(d).String() }

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(time.Duration(d).String())
}

// UnmarshalJSON reads a duration string; numbers are refused so that units are explicit.
// Errors are *json.UnmarshalTypeError so that the decoder names the field.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return &json.UnmarshalTypeError{Value: "non-string " + string(b), Type: durationType}
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return &json.UnmarshalTypeError{Value: fmt.Sprintf("string %q", s), Type: durationType}
	}
	*d = Duration(v)
	return nil
}

// DurationOf converts a time.Duration, for building requests.
func DurationOf(d time.Duration) *Duration { v := Duration(d); return &v }
