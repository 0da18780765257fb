package protocol

import "github.com/garo-dev/garo/shared/spec"

// Duration travels as a Go duration string ("30s").
type Duration = spec.Duration
