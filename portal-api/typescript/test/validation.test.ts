// Bad input gets 400 with one entry per offending field; a duplicate gets 409; a token
// without the scope gets 403.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GaroApiError, type PolicyCreate } from "../src/index.js";
import { client, server, uniqueOwner } from "./env.js";

async function rejection(p: Promise<unknown>): Promise<GaroApiError> {
  const err = await p.then(
    () => assert.fail("the request was accepted"),
    (e: unknown) => e,
  );
  assert.ok(err instanceof GaroApiError, `not a GaroApiError: ${String(err)}`);
  return err;
}

test("400 names every offending field", async () => {
  const garo = client();
  const owner = uniqueOwner();
  // Well-typed, but invalid by the server's rules: max_runners below min_idle, and a
  // memory quantity the pattern does not take (types carry no patterns).
  const body: PolicyCreate = {
    name: "linux-big",
    labels: ["linux"],
    min_idle: 4,
    max_runners: 2,
    provider: "docker",
    runner: { image: "ghcr.io/actions/actions-runner:latest", memory: "lots" },
  };
  const err = await rejection(garo.createPolicy(owner, "web", body));
  assert.equal(err.status, 400);
  assert.equal(err.code, "invalid_request");
  assert.deepEqual(err.fields.map((f) => f.field).sort(), ["max_runners", "runner.memory"]);
  assert.match(err.field("max_runners") ?? "", /at least min_idle/);
  assert.match(err.field("runner.memory") ?? "", /memory quantity/);
});

test("409 on a second create of the same name", async () => {
  const garo = client();
  const owner = uniqueOwner();
  const body: PolicyCreate = { name: "dup", labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img:1" } };
  await garo.createPolicy(owner, "web", body);
  const err = await rejection(garo.createPolicy(owner, "web", body));
  assert.equal(err.status, 409);
  assert.equal(err.code, "conflict");
});

test("a portal token with owner prefixes and read scope", async () => {
  const admin = client();
  const team = uniqueOwner("team");
  const other = uniqueOwner("other");
  const body: PolicyCreate = { name: "linux", labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img:1" } };
  await admin.createPolicy(team, "web", body);
  await admin.createPolicy(other, "web", body);

  const created = await admin.createToken({ name: `portal-${team}`, scopes: ["policies:read"], owner_prefixes: [`${team}/`], expires_in: "1h" });
  assert.match(created.token, /^garo_[A-Za-z0-9_-]{43}$/);
  const portal = client({ token: created.token });

  const who = await portal.whoAmI();
  assert.deepEqual(who.scopes, ["policies:read"]);
  assert.deepEqual(who.owner_prefixes, [`${team}/`]);

  const seen: string[] = [];
  for await (const p of portal.policies()) {
    seen.push(p.repository);
  }
  assert.deepEqual(seen, [`${team}/web`], "a token sees only its owner prefixes");

  const denied = await rejection(portal.deletePolicy(team, "web", "linux"));
  assert.equal(denied.status, 403);
  assert.equal(denied.code, "forbidden");
  const outside = await rejection(portal.getPolicy(other, "web", "linux"));
  assert.equal(outside.status, 403);

  await admin.deleteToken(created.id);
  const revoked = await rejection(portal.whoAmI());
  assert.equal(revoked.status, 401);
  assert.equal(revoked.code, "unauthorized");
  assert.ok(server.url.startsWith("http://127."), "tests talk to loopback only");
});
