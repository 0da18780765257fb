// Package githubsim is an in-memory fake of the parts of GitHub that Garo uses: the
// GitHub App endpoints (JWT, installation tokens, webhook deliveries and redelivery),
// the self-hosted runner and workflow job endpoints of a repository, rate limiting,
// signed workflow_job webhooks, and a runner lifecycle (online → job assigned →
// completed) that stub runners and in-process tests drive.
//
// GitHub cannot be reached from our machines; tests, benchmarks and the local demo talk
// to a Sim instead (an http.Handler: mount it on httptest.NewServer, or run the
// garo-githubsim binary). Routes lists the GitHub routes it serves, with GitHub's
// templated paths, so that fidelity tests can check them against GitHub's OpenAPI
// description. Responses and payloads use GitHub's field names and shapes; fields that
// GitHub marks required are always present, nullable ones are null.
//
// # Credentials
//
//   - App JWT (Authorization: Bearer <JWT>, RS256 with PrivateKeyPEM, iss = the app id as
//     number or string, or the client id; iat/exp at most 10 minutes apart, 60 s of clock
//     drift allowed, checked against Options.Now) for /app/..., GET /repos/{owner}/{repo}/installation.
//   - Installation token (Authorization: token ghs_... or Bearer ghs_...), from
//     POST /app/installations/{id}/access_tokens, valid 1 h, only on repositories of its
//     installation (and of its repositories/repository_ids selection): another
//     repository answers 404, an expired or unknown token 401 "Bad credentials", a token
//     minted with narrower permissions 403. The installation grants actions:read,
//     administration:write, metadata:read.
//   - A PAT listed in Options.PATs: every repository.
//
// Several Apps (Options.Apps) each have their own key, id, webhook (secret, hook id) and
// installation on every owner they are installed on (AddRepository: all of them;
// AddRepositoryFor: those named). An App's JWT sees its own installations and deliveries
// only; an event is delivered by every App installed on the repository's owner.
//
// # Rate limit and faults
//
// One core window (limit 5000) is shared by every caller, unless each installation and App
// JWT has one of its own (several Apps, or Options.SeparateRateLimits), as GitHub counts
// them; every REST answer carries the
// X-RateLimit-* headers and X-GitHub-Request-Id. Each authenticated REST call but
// GET /rate_limit spends one; at 0 the answer is 403 "API rate limit exceeded ..." until
// the reset time (SetRateLimit) passes on Options.Now. AddFault makes the next matching
// calls fail (429 with Retry-After, 5xx) or slow.
//
// # Webhooks
//
// Deliveries are POSTed once to Options.WebhookURL with GitHub's headers (X-GitHub-Event,
// X-GitHub-Delivery, X-GitHub-Hook-ID, X-GitHub-Hook-Installation-Target-ID/-Type,
// X-Hub-Signature, X-Hub-Signature-256, User-Agent GitHub-Hookshot/...). The answer is
// recorded and never retried; POST /app/hook/deliveries/{id}/attempts re-sends the same
// payload and GUID in the background (202) as a new delivery with redelivery=true.
// QueueJob, CancelJob and the runner lifecycle send workflow_job queued, in_progress and
// completed (waiting first for a job of an environment), in that order for a job: a queued job is offered to runners only after its
// queued delivery was attempted, and in_progress is delivered before the runner gets the
// job.
//
// # Runner lifecycle: the /_sim/ routes
//
// These routes are the simulator's own, outside GitHub's API, always at the root (not
// under Options.PathPrefix). Bodies are JSON; errors are {"message": "..."}.
//
//	GET  /_sim/healthz                   200 {"status":"ok"}
//	POST /_sim/runners/connect           {"jit_config":"<encoded_jit_config>", "os":"linux"}
//	                                     → 200 {"session_token":"...", "runner":{...}}: online, idle.
//	                                     401 unknown JIT config or runner deleted;
//	                                     409 "session conflict" when already connected.
//	POST /_sim/runners/{id}/acquire?wait=30s
//	                                     Authorization: Bearer <session_token>. Long-polls (default
//	                                     30 s, at most 60 s) for the oldest queued job of the runner's
//	                                     repository whose labels are all among the runner's own labels
//	                                     (nothing implicit), case-insensitive → 200 {"job":{...}}
//	                                     (workflow_job in_progress delivered first) or 204 when none.
//	                                     The 200 carries "locked_until": the job's lock (lease.go).
//	                                     Asking again while the job runs returns the same job.
//	                                     401 bad session or runner deleted.
//	POST /_sim/runners/{id}/renew        → 200 {"job_id":N,"locked_until":"..."}: renews the lock on
//	                                     the job by Options.RunnerLostAfter (GitHub: 10 minutes); a
//	                                     job whose lock lapses fails, its runner offline. 409 no job.
//	POST /_sim/runners/{id}/complete     {"conclusion":"success"|"failure"|"cancelled"} → 200 {"job":{...}};
//	                                     workflow_job completed delivered; an ephemeral runner is
//	                                     removed. 409 when the runner has no job.
//	POST /_sim/runners/{id}/disconnect   → 204: offline; a job it was running fails (completed/failure).
//	POST /_sim/runners/register          {"token":"<registration token>","name","labels":[...],"ephemeral":false,
//	                                     "os":"linux","arch":"x64","no_default_labels":false}
//	                                     → 201 {"runner":{...},"jit_config":"..."}: what config.sh does
//	                                     with a registration token (self-hosted, OS and arch labels added
//	                                     unless no_default_labels); connect with jit_config afterwards.
//	POST /_sim/jobs                      {"repository":"owner/name","labels":[...],"quiet":false,"environment":false}
//	                                     → 201 {"job":{...}}: QueueJob (quiet: QueueJobQuietly;
//	                                     environment: QueueJobForEnvironment, the job waits for approval).
//	POST /_sim/jobs/{id}/approve         → 200 {"job":{...}}: ApproveJob (waiting → queued).
//	GET  /_sim/jobs?repository=owner/name → 200 {"jobs":[...]}
//	POST /_sim/jobs/{id}/cancel          → 200 {"job":{...}}: CancelJob.
//	POST /_sim/faults                    {"method","path_prefix","status","retry_after","delay","times","for"}
//	                                     → 201 {"fault":{...}}: AddFault; "for" makes a window.
//	GET  /_sim/faults                    → 200 {"faults":[...]}: Faults.
//	DELETE /_sim/faults                  → 204: ClearFaults.
//	POST /_sim/webhooks/lose             {"action":"completed","for":"10s"} → 201 {"lose":{...}}:
//	                                     LoseJobWebhooksFor; "for" makes a window.
//	DELETE /_sim/webhooks/lose           → 204: LoseJobWebhooks("").
//
// encoded_jit_config is laid out as the real runner reads it: base64 of a JSON object of
// strings, ".runner", ".credentials" and ".credentials_rsaparams", each base64 of a JSON
// file. ".runner" holds agentId (the runner id), agentName, serverUrl (where a runner
// process connects: Options.BaseURL, or the scheme and Host of the generate-jitconfig
// request), gitHubUrl, workFolder and ephemeral; ".credentials" data.clientId is the
// secret connect checks. It is a credential: never log it. RunRunner does connect →
// acquire → work → complete in-process.
//
// Every JIT runner is ephemeral and carries exactly the labels generate-jitconfig was
// given, as in GitHub's documented example; a runner registered with a registration
// token gets self-hosted, its OS and its architecture before its custom labels. Jobs go
// to a runner that has all their labels. QueueJobForEnvironment makes a job that waits
// for an environment's approval (workflow_job waiting; ApproveJob: queued). With
// Options.HookTarget "repository" or "organization" the deliveries are those of a
// repository or organization webhook: no installation in the payload, the target type
// and id in the headers. Repositories belong to organizations, one installation per
// organization with repository selection "all".
package githubsim
