// Package chaos is Garo's fault-tolerance scenario with real processes (issue 14): two
// garo-server replicas (the built binary) on one PostgreSQL behind a round-robin proxy,
// the garo-githubsim binary, and one garo-agent process on the local Docker engine with
// the stub runner image built FROM scratch. It queues a burst of short jobs, runs a fault
// schedule against them (kill -9 of a replica and of the agent, a PostgreSQL restart,
// GitHub 5xx and 429 windows, lost completed webhooks, docker rm -f of busy and idle
// runners, and in the full and outage schedules both replicas down for 60 s), samples
// every 250 ms, and ends with a table: jobs completed / lost / run twice, peak runners
// against max_runners (containers in any state, creating included), orphans after
// settling (containers and GitHub registrations), whether the job log agrees with GitHub
// after settling, recovery time after each fault, for the outage the agent's return and
// per job its runner and the job log's lag, log lines per second per message and the
// peak RSS of each process.
//
// `make chaos` runs the small schedule (CI); `make chaos CHAOS=full` the full one with
// 1,000 jobs; `make chaos CHAOS=outage` the 60 s outage with capacity to spare, held to
// issue 14's recovery targets (Preset). The command is internal/chaos/cmd/garo-chaos.
// Test support only.
package chaos
