// Jobs as a portal reads them: a webhook delivery becomes a queued job of the policy it
// matches, with its timeline; labels that match no policy give an unmatched job.
import assert from "node:assert/strict";
import { test } from "node:test";
import { client, sendWorkflowJob, uniqueOwner } from "./env.js";

test("queued and unmatched jobs and their timelines", async () => {
  const garo = client();
  const owner = uniqueOwner();
  const repo = `${owner}/web`;
  await garo.createPolicy(owner, "web", { name: "linux", labels: ["self-hosted", "linux"], max_runners: 2, provider: "docker", runner: { image: "img:1" } });

  const base = 7_000_000 + Math.floor(Math.random() * 1_000_000) * 10;
  assert.equal((await sendWorkflowJob("queued", base + 1, repo, ["self-hosted", "linux"])).status, 200);
  assert.equal((await sendWorkflowJob("queued", base + 2, repo, ["self-hosted", "linux"])).status, 200);
  assert.equal((await sendWorkflowJob("queued", base + 3, repo, ["windows"])).status, 200);

  const queued = [];
  for await (const j of garo.repoJobs(owner, "web", { state: "queued" })) {
    queued.push(j);
  }
  assert.deepEqual(
    queued.map((j) => j.id),
    [base + 2, base + 1],
    "queued jobs, newest first",
  );
  assert.equal(queued[0]?.policy, "linux");
  // No agent serves the default group here, so the server says so.
  assert.equal(queued[0]?.agent_state, "no_agent");

  const job = await garo.getJob(owner, "web", base + 1);
  const steps = job.timeline.map((e) => e.step);
  assert.ok(steps.includes("received") && steps.includes("matched"), `timeline ${steps.join(",")}`);
  assert.equal(job.source, "webhook");

  const unmatched = await garo.listRepoJobs(owner, "web", { state: "unmatched" });
  assert.deepEqual(
    unmatched.items.map((j) => j.id),
    [base + 3],
  );
  assert.ok(unmatched.items[0]?.unmatched_reason);

  // Across repositories, with the owner filter.
  const all = await garo.listJobs({ owner, limit: 10 });
  assert.equal(all.items.length, 3);
});
