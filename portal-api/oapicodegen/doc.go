// Package oapicodegen holds portal-api/openapi.yaml usable by Go integrators who do not use
// this module's client: its test generates types and a client with oapi-codegen (pinned in
// tools/oapi-codegen/go.mod), compiles tools/oapi-codegen/scenario against them and runs it
// against a real garo-server. The package has no code of its own.
package oapicodegen
