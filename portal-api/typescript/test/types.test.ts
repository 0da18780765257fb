// What the generated types take and refuse, checked by tsc when the tests are built
// (`strict`, no casts): every `@ts-expect-error` line below must be an error, or the
// build fails. The bodies that must compile are used for real in the other tests.
import assert from "node:assert/strict";
import { test } from "node:test";
import type { AgentGroupPatch, Policy, PolicyCreate, PolicyPatch, PolicyRequest, TokenRequest } from "../src/index.js";

const minimal: PolicyCreate = {
  name: "linux",
  labels: ["linux"],
  max_runners: 1,
  provider: "docker",
  runner: { image: "img:1" },
};

// @ts-expect-error -- a create body needs `name`
const noName: PolicyCreate = { labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img:1" } };

// @ts-expect-error -- and `max_runners`, which has no default
const noMax: PolicyCreate = { name: "linux", labels: ["linux"], provider: "docker", runner: { image: "img:1" } };

const unknownMember: PolicyCreate = {
  ...minimal,
  // @ts-expect-error -- unknown members are refused (the server answers 400 too)
  max_runner: 3,
};

// @ts-expect-error -- `provider` is one of the enum's values
const badProvider: PolicyCreate = { ...minimal, provider: "podman" };

// @ts-expect-error -- `version` is the server's, not part of a create
const withVersion: PolicyCreate = { ...minimal, version: 3 };

// A replace may leave `name` out.
const replace: PolicyRequest = { labels: ["linux"], max_runners: 1, provider: "docker", runner: { image: "img:1" } };

// A merge patch: every member optional, `null` where a member has a default.
const patch: PolicyPatch = { min_idle: null, enabled: false, runner: { memory: null, env: { DEBUG: null } } };

// @ts-expect-error -- `max_runners` has no default, so it cannot be removed
const removeMax: PolicyPatch = { max_runners: null };

const groupPatch: AgentGroupPatch = { description: null, owner_prefixes: ["acme/"] };

// @ts-expect-error -- a scope is one of the enum's values
const badScope: TokenRequest = { name: "portal", scopes: ["policies:delete"] };

// A stored policy has every default filled in: no `?.` or `??` needed to read them.
function describe(p: Policy): string {
  return `${p.name}: ${p.min_idle}..${p.max_runners}, ephemeral ${p.ephemeral}, idle ${p.idle_grace}, group ${p.agent_group}, v${p.version}`;
}

test("the bodies that must compile are well-formed", () => {
  assert.equal(minimal.name, "linux");
  assert.equal(replace.name, undefined);
  assert.equal(patch.min_idle, null);
  assert.equal(groupPatch.description, null);
  // The refused ones exist only for tsc; keep them referenced.
  assert.equal([noName, noMax, unknownMember, badProvider, withVersion, removeMax, badScope].length, 7);
  assert.equal(typeof describe, "function");
});
