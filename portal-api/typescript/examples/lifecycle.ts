// A portal's policy lifecycle with the TypeScript SDK: create, read, change under If-Match,
// recover from a concurrent change (412), delete. docs/portal.md quotes this file, and
// test/examples.test.ts runs it against a real garo-server.
import { GaroApiError, GaroClient, type PolicyCreate } from "../src/index.js";

export async function policyLifecycle(garo: GaroClient, owner: string, repo: string): Promise<string[]> {
  const log: string[] = [];

  // Create. Only the members without a default are needed; `name` is required here.
  const body: PolicyCreate = {
    name: "linux-small",
    labels: ["self-hosted", "linux"],
    max_runners: 5,
    provider: "docker",
    runner: { image: "ghcr.io/actions/actions-runner:latest", memory: "4Gi" },
  };
  const created = await garo.createPolicy(owner, repo, body);
  // The answer is the stored policy, every default filled in, and its ETag.
  log.push(`created ${created.value.name}: version ${created.value.version}, ETag ${created.etag}, idle_grace ${created.value.idle_grace}`);

  // Change it only if nobody changed it since it was read: send the ETag back in If-Match.
  const read = await garo.getPolicy(owner, repo, "linux-small");
  const patched = await garo.patchPolicy(owner, repo, "linux-small", { max_runners: 10, min_idle: 1 }, { ifMatch: read.etag });
  log.push(`patched: max_runners ${patched.value.max_runners}, ETag ${patched.etag}`);

  // A write with a stale ETag changes nothing and fails with 412: read again, reapply.
  try {
    await garo.patchPolicy(owner, repo, "linux-small", { enabled: false }, { ifMatch: read.etag });
  } catch (err) {
    if (!(err instanceof GaroApiError) || err.code !== "precondition_failed") {
      throw err;
    }
    log.push(`stale ETag ${read.etag}: ${err.status} ${err.code}`);
    const fresh = await garo.getPolicy(owner, repo, "linux-small");
    const retried = await garo.patchPolicy(owner, repo, "linux-small", { enabled: false }, { ifMatch: fresh.etag });
    log.push(`reapplied on ${fresh.etag}: enabled ${retried.value.enabled}, ETag ${retried.etag}`);
  }

  // `null` in a merge patch removes a member, which takes its default again.
  const reset = await garo.patchPolicy(owner, repo, "linux-small", { enabled: null, min_idle: null });
  log.push(`reset: enabled ${reset.value.enabled}, min_idle ${reset.value.min_idle}`);

  await garo.deletePolicy(owner, repo, "linux-small", { ifMatch: reset.etag });
  log.push("deleted");
  return log;
}
