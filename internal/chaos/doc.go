// Package chaos runs Garo's fault-tolerance scenario with real processes (issue 14).
package chaos
