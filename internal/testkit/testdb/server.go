package testdb

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

const (
	// defaultBinDir is where Debian's postgresql-15 package installs the server binaries.
	defaultBinDir = "/usr/lib/postgresql/15/bin"
	// startTimeout bounds initdb plus waiting for the server to accept connections.
	startTimeout = 30 * time.Second
	// portAttempts is how often a start is retried when another process took the free port
	// between choosing it and PostgreSQL binding it (test binaries run in parallel).
	portAttempts = 5
	// logTailLines is how much of the server log goes into a start failure.
	logTailLines = 25
)

// missingError says that the PostgreSQL binaries are not installed.
type missingError struct {
	dir, name string
}

func (e *missingError) Error() string {
	return fmt.Sprintf("PostgreSQL binaries not found at %s (no %s)", e.dir, e.name)
}

func isMissing(err error) bool {
	var me *missingError
	return errors.As(err, &me)
}

// server is a throwaway PostgreSQL cluster: a temp directory holding the data directory and
// the server log, a postmaster process, and a reaper process that cleans up if this test
// binary dies without calling stop.
type server struct {
	bin  string
	dir  string // temp directory; data/ and postgres.log live in it
	data string
	log  string
	port int
	// durable: fsync, synchronous_commit and full_page_writes on (PostgreSQL's defaults)
	durable bool
	// cred runs initdb, postgres and pg_ctl as the postgres OS user when this process is
	// root, because they refuse to run as root. nil otherwise.
	cred *syscall.Credential

	postmaster *exec.Cmd
	exited     chan struct{} // closed when the postmaster exits
	exitErr    error         // the postmaster's exit status; read only after exited is closed

	reaper     *exec.Cmd
	reaperPipe *os.File // closing it (or dying) tells the reaper to clean up

	admin *pgxpool.Pool // connected to the "postgres" database; creates and drops test databases
}

// startServer creates a cluster in a temp directory and starts PostgreSQL on a free port of
// 127.0.0.1. On failure it cleans up what it made and returns a nil server; the error
// satisfies isMissing when the binaries are not installed.
//
// durable keeps PostgreSQL's defaults (fsync, synchronous_commit and full_page_writes on),
// as a production server runs, for measurements; otherwise they are off, for speed.
func startServer(ctx context.Context, bin string, durable bool) (*server, error) {
	for _, name := range []string{"initdb", "postgres", "pg_ctl"} {
		if fi, err := os.Stat(filepath.Join(bin, name)); err != nil || fi.IsDir() {
			return nil, &missingError{dir: bin, name: name}
		}
	}
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()

	s := &server{bin: bin, durable: durable}
	if err := s.start(ctx); err != nil {
		// Cleanup gets its own time: ctx may be what just expired.
		stopCtx, stopCancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer stopCancel()
		if stopErr := s.stop(stopCtx); stopErr != nil {
			err = fmt.Errorf("%w (and cleaning up: %v)", err, stopErr)
		}
		return nil, err
	}
	return s, nil
}

func (s *server) start(ctx context.Context) error {
	base := os.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return fmt.Errorf("running as root, and initdb/postgres refuse to run as root; need the postgres OS user to run them as: %w", err)
		}
		uid, err := strconv.ParseUint(u.Uid, 10, 32)
		if err != nil {
			return fmt.Errorf("uid of user postgres: %w", err)
		}
		gid, err := strconv.ParseUint(u.Gid, 10, 32)
		if err != nil {
			return fmt.Errorf("gid of user postgres: %w", err)
		}
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if !worldSearchable(base) {
			// The postgres user must reach its data directory, e.g. TMPDIR under /root.
			base = "/tmp"
		}
	}

	dir, err := os.MkdirTemp(base, "garo-testdb-")
	if err != nil {
		return fmt.Errorf("create PostgreSQL temp dir: %w", err)
	}
	s.dir = dir
	s.data = filepath.Join(dir, "data")
	s.log = filepath.Join(dir, "postgres.log")
	if s.cred != nil {
		if err := os.Chown(dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s to postgres: %w", dir, err)
		}
	}
	if err := s.startReaper(); err != nil {
		return err
	}

	initdb := s.command(filepath.Join(s.bin, "initdb"),
		"-D", s.data, "-U", "postgres", "--auth=trust", "-E", "UTF8", "--locale=C",
		"--no-sync", "--no-instructions")
	var out bytes.Buffer
	initdb.Stdout, initdb.Stderr = &out, &out
	if err := runCtx(ctx, initdb); err != nil {
		return fmt.Errorf("initdb in %s: %w\n%s", s.data, err, strings.TrimSpace(out.String()))
	}

	for attempt := 1; ; attempt++ {
		err := s.launch(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, errPortTaken) || attempt == portAttempts {
			return err
		}
	}

	cfg, err := pgxpool.ParseConfig(s.dsn("postgres"))
	if err != nil {
		return fmt.Errorf("parse admin DSN: %w", err)
	}
	s.admin, err = pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return fmt.Errorf("connect admin pool: %w", err)
	}
	return nil
}

var errPortTaken = errors.New("port already in use")

// launch starts the postmaster on a free port and waits until it accepts connections.
func (s *server) launch(ctx context.Context) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	return s.launchOn(ctx, port)
}

// launchOn starts the postmaster on port and waits until it accepts connections.
func (s *server) launchOn(ctx context.Context, port int) error {
	s.port = port

	logf, err := os.OpenFile(s.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open PostgreSQL log: %w", err)
	}
	// The child has its own copy; ours was only written through the child, so a close
	// error has nothing to lose.
	defer func() { _ = logf.Close() }()
	if s.cred != nil {
		if err := logf.Chown(int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return fmt.Errorf("chown %s: %w", s.log, err)
		}
	}

	args := []string{
		"-D", s.data,
		"-p", strconv.Itoa(port),
		"-c", "listen_addresses=127.0.0.1",
		"-c", "unix_socket_directories=" + s.dir,
		"-c", "max_connections=200",
	}
	if !s.durable {
		args = append(args, "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	}
	cmd := s.command(filepath.Join(s.bin, "postgres"), args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	s.postmaster = cmd
	s.exited = make(chan struct{})
	go func() {
		s.exitErr = cmd.Wait()
		close(s.exited)
	}()

	if err := s.waitReady(ctx); err != nil {
		select {
		case <-s.exited:
			if strings.Contains(s.logTail(), "could not bind") {
				err = fmt.Errorf("%w: %w", errPortTaken, err)
			}
		default:
		}
		return err
	}
	return nil
}

// waitReady polls a connection until the server answers, the postmaster exits, or ctx ends.
func (s *server) waitReady(ctx context.Context) error {
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var lastErr error
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, 2*time.Second)
		conn, err := pgx.Connect(attemptCtx, s.dsn("postgres"))
		if err == nil {
			err = errors.Join(conn.Ping(attemptCtx), conn.Close(attemptCtx))
		}
		cancel()
		if err == nil {
			return nil
		}
		lastErr = err

		select {
		case <-s.exited:
			return fmt.Errorf("postgres exited during start-up (%v); last lines of %s:\n%s", s.exitErr, s.log, s.logTail())
		case <-ctx.Done():
			return fmt.Errorf("postgres not ready on port %d: %w (last attempt: %v); last lines of %s:\n%s",
				s.port, context.Cause(ctx), lastErr, s.log, s.logTail())
		case <-tick.C:
		}
	}
}

// startReaper starts a shell that waits for its stdin to close, then stops the server and
// removes the temp directory. stop closes stdin on the normal path; when the test binary dies
// instead (a panicking test, a -timeout, a signal) the kernel closes it. The reaper has its
// own process group so that a Ctrl-C on the terminal does not kill it before it has cleaned up.
func (s *server) startReaper() error {
	const script = `read -r _ || :
if [ -f "$2/postmaster.pid" ]; then "$1/pg_ctl" stop -D "$2" -m immediate -w -t 20 >/dev/null 2>&1 || :; fi
rm -rf "$3"`
	r, w, err := os.Pipe()
	if err != nil {
		return fmt.Errorf("reaper pipe: %w", err)
	}
	cmd := s.command("/bin/sh", "-c", script, "garo-testdb-reaper", s.bin, s.data, s.dir)
	cmd.Stdin = r
	// The child holds its own copy of the read end; ours goes whatever Start did.
	err = errors.Join(cmd.Start(), r.Close())
	if err != nil {
		return fmt.Errorf("start reaper: %w", errors.Join(err, w.Close()))
	}
	s.reaper, s.reaperPipe = cmd, w
	return nil
}

// stop shuts the server down (pg_ctl stop -m immediate: the data is thrown away anyway) and
// removes the temp directory. It is safe on a partly started server.
func (s *server) stop(ctx context.Context) error {
	var errs []error
	if s.admin != nil {
		s.admin.Close()
	}
	if s.postmaster != nil {
		select {
		case <-s.exited:
		default:
			pgctl := s.command(filepath.Join(s.bin, "pg_ctl"), "stop", "-D", s.data, "-m", "immediate", "-w", "-t", "20")
			if out, err := pgctl.CombinedOutput(); err != nil {
				errs = append(errs, fmt.Errorf("pg_ctl stop: %w: %s", err, bytes.TrimSpace(out)))
				_ = s.postmaster.Process.Signal(syscall.SIGQUIT) // immediate shutdown
			}
			select {
			case <-s.exited:
			case <-ctx.Done():
				_ = s.postmaster.Process.Kill()
				errs = append(errs, fmt.Errorf("postmaster did not exit: %w", ctx.Err()))
				<-s.exited
			}
		}
	}
	if s.reaper != nil {
		// Closing the write end is the reaper's signal to clean up; its Wait below reports
		// how that went.
		if err := s.reaperPipe.Close(); err != nil {
			errs = append(errs, fmt.Errorf("reaper pipe: %w", err))
		}
		done := make(chan error, 1)
		go func() { done <- s.reaper.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				errs = append(errs, fmt.Errorf("reaper: %w", err))
			}
		case <-ctx.Done():
			_ = s.reaper.Process.Kill()
			errs = append(errs, fmt.Errorf("reaper did not finish: %w", errors.Join(ctx.Err(), <-done)))
		}
	}
	if s.dir != "" {
		if err := os.RemoveAll(s.dir); err != nil {
			errs = append(errs, fmt.Errorf("remove %s: %w", s.dir, err))
		}
	}
	return errors.Join(errs...)
}

// dsn is the connection string for database name on this server.
func (s *server) dsn(name string) string {
	return fmt.Sprintf("host=127.0.0.1 port=%d user=postgres dbname=%s sslmode=disable", s.port, name)
}

func (s *server) createDatabase(ctx context.Context, name string) error {
	if _, err := s.admin.Exec(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return fmt.Errorf("create database %s: %w", name, err)
	}
	return nil
}

func (s *server) dropDatabase(ctx context.Context, name string) error {
	if _, err := s.admin.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("drop database %s: %w", name, err)
	}
	return nil
}

// command prepares a PostgreSQL tool to run in the temp directory, as the postgres user when
// we are root, in its own process group (so terminal signals reach only the test binary, and
// shutdown stays under our control).
func (s *server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(name, args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: s.cred}
	return cmd
}

// runCtx runs cmd and kills it if ctx ends first.
func runCtx(ctx context.Context, cmd *exec.Cmd) error {
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		_ = cmd.Process.Kill()
		return errors.Join(context.Cause(ctx), <-done) // the exit status: killed
	}
}

// logTail returns the last lines of the server log.
func (s *server) logTail() string {
	b, err := os.ReadFile(s.log)
	if err != nil {
		return fmt.Sprintf("(cannot read log: %v)", err)
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > logTailLines {
		lines = lines[len(lines)-logTailLines:]
	}
	return strings.Join(lines, "\n")
}

// freePort asks the kernel for a free TCP port on 127.0.0.1. Another process can take it
// before PostgreSQL binds it; launch retries in that case.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// worldSearchable reports whether every directory from path up to / can be traversed by
// other users, so the postgres user can reach a directory created in path.
func worldSearchable(path string) bool {
	for p := filepath.Clean(path); ; p = filepath.Dir(p) {
		fi, err := os.Stat(p)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if p == filepath.Dir(p) {
			return true
		}
	}
}
