// Package dberr classifies database errors by what they say, not by what a ping finds
// afterwards: a PostgreSQL restart of a fraction of a second is over before a ping, yet
// the request that failed on it failed because the database was away, not because of a
// bug. Unavailable errors are answered 503 with Retry-After, and an idempotent read may
// be tried again once on a fresh connection.
package dberr

import (
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/jackc/pgx/v5/pgconn"
)

// Unavailable reports whether err says the database was unreachable or went away while
// the request ran (as opposed to refusing the statement):
//   - SQLSTATE class 08 (connection exception) and 57P01 admin_shutdown, 57P02
//     crash_shutdown, 57P03 cannot_connect_now (the server is starting or stopping);
//     PostgreSQL's "Appendix A. PostgreSQL Error Codes";
//   - a connection that could not be made (pgconn.ConnectError), or that broke: reset,
//     refused, closed, EOF in the middle of a message;
//   - database/sql's driver.ErrBadConn.
func Unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return strings.HasPrefix(pg.Code, "08") || pg.Code == "57P01" || pg.Code == "57P02" || pg.Code == "57P03"
	}
	var connect *pgconn.ConnectError
	var op *net.OpError
	switch {
	case errors.As(err, &connect),
		errors.Is(err, driver.ErrBadConn),
		errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &op):
		return true
	}
	// pgx reports a connection it closed after a failure as plain text.
	msg := err.Error()
	return strings.Contains(msg, "conn closed") || strings.Contains(msg, "unexpected EOF") ||
		strings.Contains(msg, "failed to connect to")
}
