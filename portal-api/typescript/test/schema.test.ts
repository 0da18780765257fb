// src/schema.ts is what openapi-typescript makes of ../openapi.yaml today: regenerated
// here with the pinned generator and compared, so that a change of the spec without
// `npm run generate` fails.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { test } from "node:test";
import { fileURLToPath } from "node:url";

// dist/test/schema.test.js -> the package folder.
const pkg = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

test("src/schema.ts is up to date with openapi.yaml", () => {
  const require = createRequire(join(pkg, "package.json"));
  const cli = join(dirname(require.resolve("openapi-typescript/package.json")), "bin", "cli.js");
  const dir = mkdtempSync(join(tmpdir(), "garo-schema-"));
  try {
    const out = join(dir, "schema.ts");
    execFileSync(process.execPath, [cli, join(pkg, "..", "openapi.yaml"), "-o", out], { cwd: pkg, stdio: "pipe" });
    const want = readFileSync(out, "utf8");
    const have = readFileSync(join(pkg, "src", "schema.ts"), "utf8");
    assert.ok(want.length > 10_000, "the generator wrote a schema");
    assert.ok(have === want, "src/schema.ts is stale: run `npm run generate` in portal-api/typescript and commit it");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
