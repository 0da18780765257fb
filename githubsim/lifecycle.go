package githubsim

import (
	"context"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// The runner side of the sim: what a self-hosted runner does against GitHub's (private)
// Actions service, reduced to connect → acquire a job → complete. Served under /_sim/
// (see the package documentation) and, for tests without containers, RunRunner.

// encoded_jit_config is what the real runner (actions/runner) reads from --jitconfig or
// ACTIONS_RUNNER_INPUT_JITCONFIG: base64 of a JSON object whose values are all strings,
// one per configuration file the runner writes into its root before it starts (file name
// → base64 of the file's content): ".runner", ".credentials" and
// ".credentials_rsaparams" (actions/runner src/Runner.Listener/Runner.cs, ExecuteCommand:
// Convert.FromBase64String, then ConvertFromJson<Dictionary<string, string>>, then
// File.WriteAllBytes of Convert.FromBase64String(value) for each key). GitHub's REST
// description gives it no schema. The sim fills the files with the fields a runner
// reads from them (.runner: agentId, agentName, poolId, poolName, serverUrl, gitHubUrl,
// workFolder, ephemeral; .credentials: scheme and data.clientId), serverUrl being where a
// runner process reaches the sim's /_sim/ routes and clientId the secret that proves the
// holder may connect. It is a credential: never log it.

// runnerFile is the .runner file of a JIT config.
type runnerFile struct {
	AgentID    int64  `json:"agentId"`
	AgentName  string `json:"agentName"`
	PoolID     int64  `json:"poolId"`
	PoolName   string `json:"poolName"`
	ServerURL  string `json:"serverUrl"`
	GitHubURL  string `json:"gitHubUrl"`
	WorkFolder string `json:"workFolder"`
	Ephemeral  bool   `json:"ephemeral"`
}

// credentialsFile is the .credentials file of a JIT config.
type credentialsFile struct {
	Scheme string `json:"scheme"`
	Data   struct {
		ClientID         string `json:"clientId"`
		AuthorizationURL string `json:"authorizationUrl"`
	} `json:"data"`
}

// JIT config file names.
const (
	jitRunnerFile      = ".runner"
	jitCredentialsFile = ".credentials"
	jitRSAParamsFile   = ".credentials_rsaparams"
)

// encodeJITConfig builds encoded_jit_config for rs; rs's fields used here never change
// after creation, so no lock is needed.
func (s *Sim) encodeJITConfig(rs *runnerState, simURL, workFolder string) string {
	var cred credentialsFile
	cred.Scheme = "OAuth"
	cred.Data.ClientID = rs.secret
	cred.Data.AuthorizationURL = simURL + "/_sim/runners/connect"
	files := map[string]any{
		jitRunnerFile: runnerFile{
			AgentID: rs.id, AgentName: rs.name, PoolID: rs.groupID(), PoolName: rs.groupName(),
			ServerURL: simURL, GitHubURL: s.webRoot() + "/" + rs.where(), WorkFolder: workFolder, Ephemeral: rs.ephemeral,
		},
		jitCredentialsFile: cred,
		// The runner's RSA key pair (RSAParameters as JSON); the sim checks no signature.
		jitRSAParamsFile: map[string]string{"d": randomAlnum(32), "dp": randomAlnum(16), "dq": randomAlnum(16),
			"exponent": "AQAB", "inverseQ": randomAlnum(16), "modulus": randomAlnum(32), "p": randomAlnum(16), "q": randomAlnum(16)},
	}
	outer := map[string]string{}
	for name, v := range files {
		b, err := json.Marshal(v)
		if err != nil {
			panic(fmt.Sprintf("githubsim: encode jit config %s: %v", name, err)) // plain structs always encode
		}
		outer[name] = base64.StdEncoding.EncodeToString(b)
	}
	b, err := json.Marshal(outer)
	if err != nil {
		panic(fmt.Sprintf("githubsim: encode jit config: %v", err))
	}
	return base64.StdEncoding.EncodeToString(b)
}

// jitConfig is what the sim reads back from an encoded JIT config.
type jitConfig struct {
	RunnerID int64
	Secret   string
}

func decodeJITConfig(encoded string) (jitConfig, error) {
	var cfg jitConfig
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(encoded))
	if err != nil {
		return cfg, ErrUnknownRunner
	}
	var outer map[string]string // every value a string, as the real runner requires
	if err := json.Unmarshal(raw, &outer); err != nil {
		return cfg, ErrUnknownRunner
	}
	file := func(name string, v any) bool {
		b, err := base64.StdEncoding.DecodeString(outer[name])
		return err == nil && json.Unmarshal(b, v) == nil
	}
	var rf runnerFile
	var cf credentialsFile
	if !file(jitRunnerFile, &rf) || !file(jitCredentialsFile, &cf) || rf.AgentID == 0 {
		return cfg, ErrUnknownRunner
	}
	return jitConfig{RunnerID: rf.AgentID, Secret: cf.Data.ClientID}, nil
}

// connect opens the runner's session: online and idle. It returns the runner id and the
// session token later calls must show.
func (s *Sim) connect(encoded, os string) (int64, string, error) {
	cfg, err := decodeJITConfig(encoded)
	if err != nil {
		return 0, "", err
	}
	if os == "" {
		os = "linux"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	rs, ok := s.runners[cfg.RunnerID]
	if !ok || subtle.ConstantTimeCompare([]byte(rs.secret), []byte(cfg.Secret)) != 1 {
		return 0, "", ErrUnknownRunner
	}
	if rs.session != "" {
		return 0, "", ErrSessionConflict
	}
	rs.session = randomAlnum(40)
	rs.os = os
	rs.online = s.opts.Now()
	s.broadcastLocked()
	s.log.Info("runner online", "scope", rs.where(), "runner", rs.name, "runner_id", rs.id)
	return rs.id, rs.session, nil
}

// sessionLocked finds runner id and checks its session token.
func (s *Sim) sessionLocked(id int64, session string) (*runnerState, error) {
	rs, ok := s.runners[id]
	if !ok {
		return nil, ErrUnknownRunner
	}
	if rs.session == "" || subtle.ConstantTimeCompare([]byte(rs.session), []byte(session)) != 1 {
		return nil, ErrNotConnected
	}
	return rs, nil
}

// acquire waits up to wait for a job for runner id: the oldest queued job of its
// repository whose labels the runner has. It marks the job in_progress, delivers
// workflow_job in_progress and returns the job id; 0 when none came in time. A runner
// that already has a job gets that job again (no second webhook).
func (s *Sim) acquire(ctx context.Context, id int64, session string, wait time.Duration) (int64, error) {
	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		s.mu.Lock()
		rs, err := s.sessionLocked(id, session)
		if err != nil {
			s.mu.Unlock()
			return 0, err
		}
		if rs.jobID != 0 {
			s.renewLocked(rs)
			s.mu.Unlock()
			return rs.jobID, nil
		}
		if js := s.matchJobLocked(rs); js != nil {
			now := s.opts.Now().UTC().Truncate(time.Second)
			js.run.repo.dequeueLocked(js)
			js.status = "in_progress"
			js.runnerID = rs.id
			js.runnerName = rs.name
			js.started = now
			js.runnerOnline = rs.online
			js.runnerGroupID, js.runnerGroupName = rs.groupID(), rs.groupName()
			js.run.updated = now
			rs.jobID = js.id
			s.renewLocked(rs)
			s.broadcastLocked()
			s.mu.Unlock()
			s.log.Info("job assigned", "repo", js.run.repo.fullName, "scope", rs.where(), "job_id", js.id, "runner", rs.name, "runner_id", rs.id)
			s.deliverJob(js.id, "in_progress")
			return js.id, nil
		}
		ch := s.changed
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timer.C:
			return 0, nil
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// matchJobLocked returns the oldest assignable queued job rs can run, or nil: a job goes
// to a runner that has every label of its runs-on, and only those the runner was
// registered with count ("jobs will be queued on runners that have all the labels that
// you specify", https://docs.github.com/en/actions/how-tos/managing-self-hosted-runners/using-self-hosted-runners-in-a-workflow);
// labels compare ignoring case ("Labels are case-insensitive",
// https://docs.github.com/en/actions/how-tos/managing-self-hosted-runners/using-labels-with-self-hosted-runners).
// A repository runner serves its repository; an organisation runner serves the
// repositories of its organisation that its runner group admits ("Managing access to
// self-hosted runners using groups": a group's repository access decides which
// repositories may send it jobs). A job whose runs-on names a group goes only to
// runners of that group, and among them to those with all its labels, if any
// ("Choosing runners in a group", workflow syntax for runs-on.group,
// https://docs.github.com/en/actions/writing-workflows/workflow-syntax-for-github-actions#choosing-runners-in-a-group);
// group names compare ignoring case, as GitHub's runner group names do.
func (s *Sim) matchJobLocked(rs *runnerState) *jobState {
	have := map[string]bool{}
	for _, l := range rs.labels {
		have[strings.ToLower(l)] = true
	}
	var best *jobState
	for _, queue := range s.queuesLocked(rs) {
		for _, js := range queue { // oldest first; across repositories the oldest job wins
			if !js.assignable || (js.group != "" && (rs.repo != nil || !strings.EqualFold(js.group, rs.groupName()))) {
				continue
			}
			ok := true
			for _, l := range js.labels {
				if !have[strings.ToLower(l)] {
					ok = false
					break
				}
			}
			if ok {
				if best == nil || js.created.Before(best.created) || (js.created.Equal(best.created) && js.id < best.id) {
					best = js
				}
				break
			}
		}
	}
	return best
}

// queuesLocked are the queues of the repositories rs may serve.
func (s *Sim) queuesLocked(rs *runnerState) [][]*jobState {
	if rs.repo != nil {
		return [][]*jobState{rs.repo.queue}
	}
	var out [][]*jobState
	for _, r := range s.repos {
		if r.owner == rs.org && (rs.group == nil || rs.group.admits(r.fullName)) {
			out = append(out, r.queue)
		}
	}
	return out
}

// conclusions a runner may report.
var conclusions = map[string]bool{"success": true, "failure": true, "cancelled": true}

// complete finishes the runner's job with conclusion and delivers workflow_job
// completed; an ephemeral runner is then removed. A job cancelled meanwhile keeps its
// conclusion and gets no second webhook.
func (s *Sim) complete(id int64, session, conclusion string) (int64, error) {
	if !conclusions[conclusion] {
		return 0, fmt.Errorf("githubsim: conclusion %q: want success, failure or cancelled", conclusion)
	}
	s.mu.Lock()
	rs, err := s.sessionLocked(id, session)
	if err != nil {
		s.mu.Unlock()
		return 0, err
	}
	if rs.jobID == 0 {
		s.mu.Unlock()
		return 0, ErrNoJob
	}
	js := s.jobs[rs.jobID]
	send := js.status != "completed"
	if send {
		s.completeJobLocked(js, conclusion)
	}
	rs.lastJobID, rs.jobID = js.id, 0
	if rs.ephemeral {
		delete(s.runners, rs.id)
		s.log.Info("ephemeral runner removed", "scope", rs.where(), "runner", rs.name, "runner_id", rs.id)
	}
	s.broadcastLocked()
	s.mu.Unlock()
	if send {
		s.deliverJob(js.id, "completed")
		s.afterComplete(s.ctx, js.run)
	}
	return js.id, nil
}

// disconnect closes the runner's session: offline. A job it was running fails, as when
// GitHub loses a runner.
func (s *Sim) disconnect(id int64, session string) error {
	s.mu.Lock()
	rs, err := s.sessionLocked(id, session)
	if err != nil {
		s.mu.Unlock()
		return err
	}
	rs.session = ""
	var failed int64
	if rs.jobID != 0 {
		if js := s.jobs[rs.jobID]; js.status != "completed" {
			s.completeJobLocked(js, "failure")
			failed = js.id
		}
		rs.lastJobID, rs.jobID = rs.jobID, 0
	}
	s.broadcastLocked()
	s.mu.Unlock()
	s.log.Info("runner offline", "runner_id", id)
	if failed != 0 {
		s.deliverJob(failed, "completed")
		s.afterComplete(s.ctx, s.jobRun(failed))
	}
	return nil
}

// RunRunner plays a runner in-process, for tests that have no container: connect with
// the JIT config, wait for a job, work for work, complete it with success. When ctx ends
// first, the runner disconnects (a running job fails) and ctx's error is returned.
func (s *Sim) RunRunner(ctx context.Context, encodedJITConfig string, work time.Duration) error {
	id, session, err := s.connect(encodedJITConfig, "linux")
	if err != nil {
		return fmt.Errorf("run runner: %w", err)
	}
	var jobID int64
	for jobID == 0 {
		if jobID, err = s.acquire(ctx, id, session, time.Minute); err != nil {
			_ = s.disconnect(id, session) // best effort: the runner may be gone already
			return fmt.Errorf("run runner %d: %w", id, err)
		}
	}
	t := time.NewTimer(work)
	defer t.Stop()
	renew := time.NewTicker(s.opts.RunnerLostAfter / 10) // as GitHub's runner: a tenth of the lock
	defer renew.Stop()
	for working := true; working; {
		select {
		case <-t.C:
			working = false
		case <-renew.C:
			s.mu.Lock()
			if rs, err := s.sessionLocked(id, session); err == nil && rs.jobID == jobID {
				s.renewLocked(rs)
			}
			s.mu.Unlock()
		case <-ctx.Done():
			_ = s.disconnect(id, session)
			return fmt.Errorf("run runner %d on job %d: %w", id, jobID, ctx.Err())
		}
	}
	if _, err := s.complete(id, session, "success"); err != nil {
		return fmt.Errorf("run runner %d on job %d: %w", id, jobID, err)
	}
	return nil
}

// The /_sim/ HTTP routes.

func (s *Sim) newSimMux() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /_sim/healthz", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	m.HandleFunc("POST /_sim/runners/register", s.simRegister)
	m.HandleFunc("POST /_sim/runners/connect", s.simConnect)
	m.HandleFunc("POST /_sim/runners/{id}/acquire", s.simAcquire)
	m.HandleFunc("POST /_sim/runners/{id}/renew", s.simRenew)
	m.HandleFunc("POST /_sim/runners/{id}/complete", s.simComplete)
	m.HandleFunc("POST /_sim/runners/{id}/disconnect", s.simDisconnect)
	m.HandleFunc("POST /_sim/faults", s.simAddFault)
	m.HandleFunc("GET /_sim/faults", s.simListFaults)
	m.HandleFunc("DELETE /_sim/faults", s.simClearFaults)
	m.HandleFunc("POST /_sim/webhooks/lose", s.simLoseWebhooks)
	m.HandleFunc("DELETE /_sim/webhooks/lose", s.simKeepWebhooks)
	m.HandleFunc("POST /_sim/jobs", s.simQueueJob)
	m.HandleFunc("GET /_sim/jobs", s.simListJobs)
	m.HandleFunc("POST /_sim/jobs/{id}/cancel", s.simCancelJob)
	m.HandleFunc("POST /_sim/jobs/{id}/approve", s.simApproveJob)
	m.HandleFunc("/", func(w http.ResponseWriter, _ *http.Request) { simError(w, http.StatusNotFound, "Not Found") })
	return m
}

func simError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]string{"message": msg})
}

// simFail maps an error of the runner side to its status.
func simFail(w http.ResponseWriter, err error) {
	switch {
	case errors.Is(err, ErrUnknownRunner):
		simError(w, http.StatusUnauthorized, "unknown runner: the JIT config is not valid or the runner registration was deleted")
	case errors.Is(err, ErrNotConnected):
		simError(w, http.StatusUnauthorized, "invalid session: connect first and send Authorization: Bearer <session_token>")
	case errors.Is(err, ErrSessionConflict):
		simError(w, http.StatusConflict, "session conflict: a session for this runner already exists")
	case errors.Is(err, ErrNoJob):
		simError(w, http.StatusConflict, "the runner has no job")
	case errors.Is(err, ErrUnknownRepository), errors.Is(err, ErrUnknownJob):
		simError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		simError(w, http.StatusServiceUnavailable, err.Error())
	default:
		simError(w, http.StatusBadRequest, err.Error())
	}
}

func decodeSim(w http.ResponseWriter, r *http.Request, v any) bool {
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(v); err != nil {
		simError(w, http.StatusBadRequest, "Problems parsing JSON")
		return false
	}
	return true
}

// simRunner reads {id} and the session token of a runner call.
func simRunner(w http.ResponseWriter, r *http.Request) (int64, string, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		simError(w, http.StatusNotFound, "Not Found")
		return 0, "", false
	}
	return id, credential(r.Header.Get("Authorization")), true
}

func (s *Sim) simRegister(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Token      string   `json:"token"`
		Name       string   `json:"name"`
		Labels     []string `json:"labels"`
		Ephemeral  bool     `json:"ephemeral"`
		WorkFolder string   `json:"work_folder"`
		// OS and Arch are the machine's (the runner's "Linux"/"X64" by default);
		// NoDefaultLabels is config.sh --no-default-labels.
		OS              string `json:"os"`
		Arch            string `json:"arch"`
		NoDefaultLabels bool   `json:"no_default_labels"`
		// RunnerGroup is config.sh --runnergroup: the group of an organisation runner
		// ("" the Default group); ignored for a repository's token.
		RunnerGroup string `json:"runner_group"`
	}
	if !decodeSim(w, r, &body) {
		return
	}
	if body.Name == "" {
		simError(w, http.StatusUnprocessableEntity, "name is required")
		return
	}
	if body.WorkFolder == "" {
		body.WorkFolder = "_work"
	}
	s.mu.Lock()
	t, ok := s.regTokens[body.Token]
	if !ok || !s.opts.Now().Before(t.expires) {
		s.mu.Unlock()
		simError(w, http.StatusUnauthorized, "invalid or expired registration token")
		return
	}
	sc := t.runnerScope
	if sc.org != nil && body.RunnerGroup != "" {
		// config.sh --runnergroup NAME puts an organisation runner in that group, and
		// "The command will fail if the runner group doesn't exist: Could not find any
		// self-hosted runner group named ..." ("Managing access to self-hosted runners
		// using groups", docs.github.com).
		g, ok := sc.org.groupNamedLocked(body.RunnerGroup)
		if !ok {
			s.mu.Unlock()
			simError(w, http.StatusNotFound, fmt.Sprintf("Could not find any self-hosted runner group named %q.", body.RunnerGroup))
			return
		}
		sc.group = g
	}
	rs, ok := s.createRunnerLocked(sc, body.Name, registeredLabels(body.OS, body.Arch, body.NoDefaultLabels, body.Labels), body.Ephemeral)
	if !ok {
		s.mu.Unlock()
		// The answer of generate-jitconfig to a taken name (writeJITRunner cites it).
		simError(w, http.StatusConflict, fmt.Sprintf("Already exists - A runner with the name %s already exists.", body.Name))
		return
	}
	out := struct {
		Runner    runnerJSON `json:"runner"`
		JITConfig string     `json:"jit_config"`
	}{Runner: s.runnerJSONLocked(rs)}
	s.mu.Unlock()
	out.JITConfig = s.encodeJITConfig(rs, s.publicRoot(r), body.WorkFolder)
	writeJSON(w, http.StatusCreated, out)
}

// registeredLabels are the labels of a runner that registers itself with a registration
// token (config.sh --labels): the runner adds self-hosted, its operating system and its
// architecture to the custom labels, unless --no-default-labels ("A self-hosted runner
// automatically receives certain labels when it is added to GitHub Actions: self-hosted,
// linux/windows/macOS, x64/ARM/ARM64 ... pass the --no-default-labels flag" in
// https://docs.github.com/en/actions/how-tos/managing-self-hosted-runners/using-self-hosted-runners-in-a-workflow).
// A JIT runner gets no such labels: GitHub registers exactly what generate-jitconfig was given.
func registeredLabels(os, arch string, noDefaults bool, custom []string) []string {
	if noDefaults {
		return custom
	}
	osLabel := map[string]string{"": "Linux", "linux": "Linux", "windows": "Windows", "macos": "macOS", "osx": "macOS"}[strings.ToLower(os)]
	if osLabel == "" {
		osLabel = os
	}
	archLabel := map[string]string{"": "X64", "x64": "X64", "arm": "ARM", "arm64": "ARM64"}[strings.ToLower(arch)]
	if archLabel == "" {
		archLabel = arch
	}
	return append([]string{"self-hosted", osLabel, archLabel}, custom...)
}

func (s *Sim) simConnect(w http.ResponseWriter, r *http.Request) {
	var body struct {
		JITConfig string `json:"jit_config"`
		OS        string `json:"os"`
	}
	if !decodeSim(w, r, &body) {
		return
	}
	id, session, err := s.connect(body.JITConfig, body.OS)
	if err != nil {
		simFail(w, err)
		return
	}
	s.mu.Lock()
	out := struct {
		SessionToken string     `json:"session_token"`
		Runner       runnerJSON `json:"runner"`
	}{SessionToken: session, Runner: s.runnerJSONLocked(s.runners[id])}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

// maxAcquireWait caps ?wait= of acquire.
const maxAcquireWait = 60 * time.Second

func (s *Sim) simAcquire(w http.ResponseWriter, r *http.Request) {
	id, session, ok := simRunner(w, r)
	if !ok {
		return
	}
	wait := 30 * time.Second
	if v := r.URL.Query().Get("wait"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil {
			secs, err2 := strconv.Atoi(v)
			if err2 != nil || secs < 0 {
				simError(w, http.StatusBadRequest, "wait: want a duration such as 30s")
				return
			}
			d = time.Duration(secs) * time.Second
		}
		wait = min(max(d, 0), maxAcquireWait)
	}
	jobID, err := s.acquire(r.Context(), id, session, wait)
	if err != nil {
		simFail(w, err)
		return
	}
	if jobID == 0 {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	s.mu.Lock()
	out := struct {
		Job         jobJSON   `json:"job"`
		LockedUntil time.Time `json:"locked_until"` // renew before then (lease.go)
	}{Job: s.jobJSONLocked(s.jobs[jobID])}
	if rs, ok := s.runners[id]; ok && rs.jobID == jobID {
		out.LockedUntil = rs.renewed.Add(s.opts.RunnerLostAfter).UTC()
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) writeSimJob(w http.ResponseWriter, status int, jobID int64) {
	s.mu.Lock()
	out := struct {
		Job jobJSON `json:"job"`
	}{Job: s.jobJSONLocked(s.jobs[jobID])}
	s.mu.Unlock()
	writeJSON(w, status, out)
}

func (s *Sim) simComplete(w http.ResponseWriter, r *http.Request) {
	id, session, ok := simRunner(w, r)
	if !ok {
		return
	}
	var body struct {
		Conclusion string `json:"conclusion"`
	}
	if !decodeSim(w, r, &body) {
		return
	}
	jobID, err := s.complete(id, session, body.Conclusion)
	if err != nil {
		simFail(w, err)
		return
	}
	s.writeSimJob(w, http.StatusOK, jobID)
}

func (s *Sim) simDisconnect(w http.ResponseWriter, r *http.Request) {
	id, session, ok := simRunner(w, r)
	if !ok {
		return
	}
	if err := s.disconnect(id, session); err != nil {
		simFail(w, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Sim) simQueueJob(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Repository string   `json:"repository"`
		Labels     []string `json:"labels"`
		Quiet      bool     `json:"quiet"`
		// Environment: the job references an environment with required reviewers and
		// waits for POST /_sim/jobs/{id}/approve (see environments.go).
		Environment bool `json:"environment"`
		// RunnerGroup: the job's runs-on names this runner group (QueueJobInGroup);
		// labels may then be empty.
		RunnerGroup string `json:"runner_group"`
	}
	if !decodeSim(w, r, &body) {
		return
	}
	var job Job
	var err error
	if body.RunnerGroup != "" {
		job, err = s.QueueJobInGroup(r.Context(), body.Repository, body.RunnerGroup, body.Labels)
	} else if body.Environment {
		job, err = s.QueueJobForEnvironment(r.Context(), body.Repository, body.Labels)
	} else if body.Quiet {
		job, err = s.QueueJobQuietly(body.Repository, body.Labels)
	} else {
		job, err = s.QueueJob(r.Context(), body.Repository, body.Labels)
	}
	if err != nil && job.ID == 0 {
		simFail(w, err)
		return
	}
	s.writeSimJob(w, http.StatusCreated, job.ID) // a failed delivery still made the job
}

func (s *Sim) simListJobs(w http.ResponseWriter, r *http.Request) {
	repo := r.URL.Query().Get("repository")
	s.mu.Lock()
	out := struct {
		Jobs []jobJSON `json:"jobs"`
	}{Jobs: []jobJSON{}}
	for _, js := range s.jobsLocked(repo) {
		out.Jobs = append(out.Jobs, s.jobJSONLocked(js))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

func (s *Sim) simApproveJob(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		simError(w, http.StatusNotFound, "Not Found")
		return
	}
	job, err := s.ApproveJob(r.Context(), id)
	if err != nil && job.ID == 0 {
		simFail(w, err)
		return
	}
	s.writeSimJob(w, http.StatusOK, job.ID)
}

func (s *Sim) simCancelJob(w http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		simError(w, http.StatusNotFound, "Not Found")
		return
	}
	job, err := s.CancelJob(r.Context(), id)
	if err != nil && job.ID == 0 {
		simFail(w, err)
		return
	}
	s.writeSimJob(w, http.StatusOK, job.ID)
}
