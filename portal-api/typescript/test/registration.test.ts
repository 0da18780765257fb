// Agent groups and their registration tokens, as a portal hands out tokens to a team's
// build hosts.
import assert from "node:assert/strict";
import { test } from "node:test";
import { GaroApiError } from "../src/index.js";
import { client, uniqueOwner } from "./env.js";

test("registration tokens of a team's agent group", async () => {
  const garo = client();
  const team = uniqueOwner("team");
  const group = await garo.createAgentGroup({ name: team, description: "build hosts of the team", owner_prefixes: [`${team}/`] });
  assert.equal(group.name, team);
  assert.deepEqual(group.owner_prefixes, [`${team}/`]);
  assert.equal(group.policy_count, 0);

  const created = await garo.createRegistrationToken(team, { description: "rack 4", expires_in: "2h", uses: 2 });
  assert.match(created.token, /^garor_[A-Za-z0-9_-]{43}$/);
  assert.equal(created.group, team);
  assert.equal(created.uses_left, 2);
  const lifetime = Date.parse(created.expires_at) - Date.parse(created.created_at);
  assert.ok(Math.abs(lifetime - 2 * 3600 * 1000) < 5000, `expires_at is about 2h after created_at, got ${lifetime} ms`);

  const listed = await garo.listRegistrationTokens(team);
  assert.deepEqual(
    listed.items.map((t) => t.id),
    [created.id],
  );
  assert.ok(!("token" in (listed.items[0] ?? {})), "a listed token carries no secret");
  const one = await garo.getRegistrationToken(team, created.id);
  assert.equal(one.description, "rack 4");

  // A policy of the team may name the group; one of another owner may not.
  await garo.createPolicy(team, "api", { name: "linux", labels: ["linux"], max_runners: 2, provider: "docker", agent_group: team, runner: { image: "img:1" } });
  assert.equal((await garo.getAgentGroup(team)).policy_count, 1);
  const outside = await garo
    .createPolicy(uniqueOwner("other"), "api", { name: "linux", labels: ["linux"], max_runners: 2, provider: "docker", agent_group: team, runner: { image: "img:1" } })
    .then(
      () => assert.fail("a policy outside the group's prefixes was accepted"),
      (err: unknown) => err,
    );
  assert.ok(outside instanceof GaroApiError && outside.status === 400 && outside.field("agent_group") !== undefined);

  await garo.deleteRegistrationToken(team, created.id);
  const gone = await garo.getRegistrationToken(team, created.id).then(
    () => assert.fail("the deleted registration token is still there"),
    (err: unknown) => err,
  );
  assert.ok(gone instanceof GaroApiError && gone.status === 404);

  // A group still named by a policy cannot go (409); without it, it can.
  const inUse = await garo.deleteAgentGroup(team).then(
    () => assert.fail("a group in use was deleted"),
    (err: unknown) => err,
  );
  assert.ok(inUse instanceof GaroApiError && inUse.status === 409);
  await garo.deletePolicy(team, "api", "linux");
  await garo.deleteAgentGroup(team);
});

test("draining an unknown agent is a 404 naming it", async () => {
  const garo = client();
  for (const call of [() => garo.drainAgent("no-such-agent"), () => garo.undrainAgent("no-such-agent")]) {
    const err = await call().then(
      () => assert.fail("an unknown agent was drained"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GaroApiError && err.status === 404 && err.message.includes("no-such-agent"));
  }
});
