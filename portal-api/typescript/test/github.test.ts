// GitHub's rate-limit budgets against a real garo-server, which runs without GitHub
// credentials here: mode "none" and no budget; a token with owner prefixes is refused.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GaroApiError, type GitHubRateLimits } from "../src/index.js";
import { client, uniqueOwner } from "./env.js";

test("GitHub rate-limit budgets", async () => {
  const admin = client();
  const limits: GitHubRateLimits = await admin.githubRateLimits();
  assert.equal(limits.mode, "none");
  assert.deepEqual(limits.budgets, []);

  const team = uniqueOwner("team");
  const created = await admin.createToken({ name: `ops-${team}`, scopes: ["agents:read"], owner_prefixes: [`${team}/`], expires_in: "1h" });
  const err = await client({ token: created.token }).githubRateLimits().then(
    () => assert.fail("a token with owner prefixes read the budgets"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GaroApiError, `not a GaroApiError: ${String(err)}`);
  assert.equal(err.status, 403);
  await admin.deleteToken(created.id);
});
