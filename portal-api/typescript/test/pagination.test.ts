// Pagination: pages of `limit` items chained by next_cursor, and the iterators that read
// them all.
import assert from "node:assert/strict";
import { test } from "node:test";
import { paginate, type PolicyCreate } from "../src/index.js";
import { client, uniqueOwner } from "./env.js";

test("pages and iterators over a repository's policies", async () => {
  const garo = client();
  const owner = uniqueOwner();
  const names = ["p1", "p2", "p3", "p4", "p5", "p6", "p7"];
  for (const name of names) {
    const body: PolicyCreate = { name, labels: ["linux", name], max_runners: 1, provider: "docker", runner: { image: "img:1" } };
    await garo.createPolicy(owner, "web", body);
  }

  // Page by page: 2 + 2 + 2 + 1, the last page without next_cursor.
  const sizes: number[] = [];
  let cursor: string | undefined;
  do {
    const page = await garo.listRepoPolicies(owner, "web", cursor === undefined ? { limit: 2 } : { limit: 2, cursor });
    sizes.push(page.items.length);
    cursor = page.next_cursor;
  } while (cursor !== undefined);
  assert.deepEqual(sizes, [2, 2, 2, 1]);

  // The iterator reads every page, in the server's order (by name).
  const seen: string[] = [];
  for await (const p of garo.repoPolicies(owner, "web", { limit: 2 })) {
    seen.push(p.name);
  }
  assert.deepEqual(seen, names);

  // Filters travel with every page.
  await garo.patchPolicy(owner, "web", "p3", { enabled: false });
  const disabled: string[] = [];
  for await (const p of garo.repoPolicies(owner, "web", { limit: 1, enabled: false })) {
    disabled.push(p.name);
  }
  assert.deepEqual(disabled, ["p3"]);
});

test("paginate stops on a cursor that does not move", async () => {
  let calls = 0;
  const pages = paginate(async () => {
    calls++;
    return { items: [calls], next_cursor: "same" };
  });
  const got: number[] = [];
  await assert.rejects(async () => {
    for await (const n of pages) {
      got.push(n);
    }
  }, /answered cursor same with itself/);
  assert.deepEqual(got, [1, 2]);
});
