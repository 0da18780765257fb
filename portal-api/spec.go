package portalapi

import _ "embed"

// OpenAPISpec is portal-api/openapi.yaml, the source of truth for portal integrators. The
// server serves it at /api/v1/openapi.yaml; contract tests validate responses against it.
//
//go:embed openapi.yaml
var OpenAPISpec []byte
