// The policy lifecycle against a real garo-server: create with only the required members,
// defaults in the answer, ETag and If-Match on every write, 412 on a stale tag, 404 after
// the delete, and the audit trail of it all.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GaroApiError, type Policy, type PolicyCreate, type PolicyRequest } from "../src/index.js";
import { client, uniqueOwner } from "./env.js";

test("policy lifecycle with ETags", async () => {
  const garo = client();
  const owner = uniqueOwner();
  const repo = "web";

  const body: PolicyCreate = {
    name: "linux-small",
    labels: ["self-hosted", "linux"],
    max_runners: 5,
    provider: "docker",
    runner: { image: "ghcr.io/actions/actions-runner:latest", cpu: "2", memory: "4Gi" },
  };
  const created = await garo.createPolicy(owner, repo, body);
  assert.equal(created.etag, '"1"');
  const p: Policy = created.value;
  assert.equal(p.repository, `${owner}/${repo}`);
  assert.equal(p.version, 1);
  // Server defaults are present in the answer.
  assert.equal(p.min_idle, 0);
  assert.equal(p.ephemeral, true);
  assert.equal(p.enabled, true);
  assert.equal(p.idle_grace, "5m0s");
  assert.equal(p.bootstrap_timeout, "10m0s");
  assert.equal(p.agent_group, "default");
  assert.deepEqual(p.schedule, []);

  const read = await garo.getPolicy(owner, repo, "linux-small");
  assert.equal(read.etag, '"1"');
  assert.deepEqual(read.value.labels, ["self-hosted", "linux"]);

  const patched = await garo.patchPolicy(owner, repo, "linux-small", { max_runners: 10, runner: { memory: "8Gi" } }, { ifMatch: read.etag });
  assert.equal(patched.etag, '"2"');
  assert.equal(patched.value.max_runners, 10);
  assert.equal(patched.value.runner.memory, "8Gi");
  assert.equal(patched.value.runner.cpu, "2", "a merge patch keeps the members it does not name");

  // The same write with the now stale tag: 412, nothing written.
  const stale = await garo.patchPolicy(owner, repo, "linux-small", { max_runners: 3 }, { ifMatch: read.etag }).then(
    () => assert.fail("a stale If-Match was accepted"),
    (err: unknown) => err,
  );
  assert.ok(stale instanceof GaroApiError);
  assert.equal(stale.status, 412);
  assert.equal(stale.code, "precondition_failed");
  assert.ok(stale.requestId, "error answers carry X-Request-ID");
  assert.equal((await garo.getPolicy(owner, repo, "linux-small")).value.max_runners, 10);

  // PUT replaces: members left out take their defaults again.
  const replacement: PolicyRequest = {
    labels: ["self-hosted", "linux", "x64"],
    max_runners: 4,
    min_idle: 1,
    provider: "docker",
    runner: { image: "ghcr.io/actions/actions-runner:2.321.0" },
  };
  const replaced = await garo.replacePolicy(owner, repo, "linux-small", replacement, { ifMatch: patched.etag });
  assert.equal(replaced.etag, '"3"');
  assert.equal(replaced.value.runner.memory, undefined);
  assert.equal(replaced.value.min_idle, 1);

  // null removes a member: it takes its default again.
  const reset = await garo.patchPolicy(owner, repo, "linux-small", { min_idle: null }, { ifMatch: replaced.etag });
  assert.equal(reset.value.min_idle, 0);

  const staleDelete = await garo.deletePolicy(owner, repo, "linux-small", { ifMatch: replaced.etag }).then(
    () => assert.fail("a stale If-Match delete was accepted"),
    (err: unknown) => err,
  );
  assert.ok(staleDelete instanceof GaroApiError && staleDelete.status === 412);

  await garo.deletePolicy(owner, repo, "linux-small", { ifMatch: reset.etag });
  const gone = await garo.getPolicy(owner, repo, "linux-small").then(
    () => assert.fail("the deleted policy is still there"),
    (err: unknown) => err,
  );
  assert.ok(gone instanceof GaroApiError);
  assert.equal(gone.status, 404);
  assert.equal(gone.code, "not_found");

  // The audit trail names every write, newest first.
  const actions: string[] = [];
  for await (const e of garo.auditEvents({ repository: `${owner}/${repo}` })) {
    actions.push(e.action);
  }
  assert.deepEqual(actions, ["policy.delete", "policy.patch", "policy.replace", "policy.patch", "policy.create"]);
});

test("create without a name is refused by the server too", async () => {
  const owner = uniqueOwner();
  // A body built at run time (say, from a form) that misses `name`: the type would not
  // take it (test/types.test.ts), and the server refuses it with a field error.
  const fromForm: Record<string, unknown> = { labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img" } };
  const res = await fetch(`${process.env["GARO_SERVER"]}/api/v1/repos/${owner}/web/policies`, {
    method: "POST",
    headers: { Authorization: `Bearer ${process.env["GARO_TOKEN"]}`, "Content-Type": "application/json" },
    body: JSON.stringify(fromForm),
  });
  assert.equal(res.status, 400);
  const text = await res.text();
  assert.match(text, /"field":"name"/);
});
