// The examples that docs/portal.md quotes, run against the real server.
import assert from "node:assert/strict";
import { test } from "node:test";
import { policyLifecycle } from "../examples/lifecycle.js";
import { queuedJobs, timeline, waitForJobChange, waitForPolicyChange } from "../examples/queue.js";
import { client, sendWorkflowJob, uniqueOwner } from "./env.js";

test("examples/lifecycle.ts", async () => {
  const log = await policyLifecycle(client(), uniqueOwner(), "web");
  assert.deepEqual(log, [
    'created linux-small: version 1, ETag "1", idle_grace 5m0s',
    'patched: max_runners 10, ETag "2"',
    'stale ETag "1": 412 precondition_failed',
    'reapplied on "2": enabled false, ETag "3"',
    "reset: enabled true, min_idle 0",
    "deleted",
  ]);
});

test("examples/queue.ts", async () => {
  const garo = client();
  const owner = uniqueOwner();
  await garo.createPolicy(owner, "web", { name: "linux", labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img:1" } });
  const id = 8_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  assert.equal((await sendWorkflowJob("queued", id, `${owner}/web`, ["linux"])).status, 200);
  assert.equal((await sendWorkflowJob("queued", id + 1, `${owner}/web`, ["linux"])).status, 200);

  const lines = await queuedJobs(garo, owner, "web");
  assert.deepEqual(lines, [`${id} build [linux] policy linux: no_agent`, `${id + 1} build [linux] policy linux: no_agent`]);

  const job = await garo.getJob(owner, "web", id);
  assert.ok(timeline(job).some((l) => l.startsWith("matched ")));

  // Nothing changes the job: the poll ends after its tries (the sleep is not real here).
  const naps: number[] = [];
  const none = await waitForJobChange(garo, owner, "web", id, job.updated_at, { tries: 3, everyMs: 10, sleep: async (ms) => void naps.push(ms) });
  assert.equal(none, undefined);
  assert.deepEqual(naps, [10, 10, 10]);

  // GitHub says the job started: the next poll sees it.
  assert.equal((await sendWorkflowJob("in_progress", id, `${owner}/web`, ["linux"])).status, 200);
  const changed = await waitForJobChange(garo, owner, "web", id, job.updated_at, { tries: 3, everyMs: 10 });
  assert.equal(changed?.state, "in_progress");

  // A policy changed by someone else: its ETag moves.
  const { etag } = await garo.getPolicy(owner, "web", "linux");
  await garo.patchPolicy(owner, "web", "linux", { max_runners: 2 });
  assert.equal(await waitForPolicyChange(garo, owner, "web", "linux", etag, { tries: 2, everyMs: 10 }), '"2"');
});
