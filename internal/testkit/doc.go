// Package testkit is the one home of Garo's test support: a fake clock, a log capture, and
// the logger of tests that do not read logs. It imports only the standard library, so that
// the tests of every package (server, agent, simulator) may use it.
//
// Its subpackages are the heavier harnesses, each its own idea with its own dependencies:
//
//   - testdb: the test store, on SQLite and on a real PostgreSQL that it starts itself;
//   - dockertest: the real Docker engine, static binaries and images built from memory;
//   - simtest: the GitHub simulator served for one test, minting and removing runners;
//   - tlstest: a private CA, server and client certificates as PEM files, for TLS tests;
//   - agenttest: the agent's peers (garo-server's runner calls and jobs answer on the
//     simulator, a provider whose listing hangs) for the tests of agent/...;
//   - browsertest: a real headless Chromium driven with chromedp, for the web console's
//     browser tests, with screenshots in .cache/screenshots;
//   - serverproc: the garo-server binary built and run as a process of its own, for
//     clients that are not this module's Go (portal-api/typescript, tools/oapi-codegen);
//   - stack: garo-server, the GitHub simulator and garo-agent in one process, as e2e/
//     and the demo (internal/demo) run them.
//
// Test support only: no production binary imports testkit or any of its subpackages
// (layout_test.go proves it).
package testkit
