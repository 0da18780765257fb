// Retries of 503 answers, against a local HTTP server that plays an unavailable database:
// the client waits what Retry-After says (capped), and gives up after maxRetries. The
// waits are recorded, not slept.
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { test } from "node:test";
import { GaroApiError, GaroClient } from "../src/index.js";

interface Fake {
  url: string;
  requests: { method: string; body: string }[];
  close(): Promise<void>;
}

async function fake(answer: (n: number, req: IncomingMessage, res: ServerResponse) => void): Promise<Fake> {
  const requests: { method: string; body: string }[] = [];
  const srv = createServer((req, res) => {
    let body = "";
    req.on("data", (c: Buffer) => (body += c.toString()));
    req.on("end", () => {
      requests.push({ method: req.method ?? "", body });
      answer(requests.length, req, res);
    });
  });
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const addr: AddressInfo | string | null = srv.address();
  if (addr === null || typeof addr === "string") {
    throw new Error(`unexpected listener address ${String(addr)}`);
  }
  return {
    url: `http://127.0.0.1:${addr.port}`,
    requests,
    close: () => new Promise<void>((resolve) => srv.close(() => resolve())),
  };
}

function unavailable(res: ServerResponse, retryAfter: string | undefined): void {
  const headers: Record<string, string> = { "Content-Type": "application/json", "X-Request-ID": "r-503" };
  if (retryAfter !== undefined) {
    headers["Retry-After"] = retryAfter;
  }
  res.writeHead(503, headers);
  res.end(JSON.stringify({ error: { code: "unavailable", message: "the database is unreachable; retry later" } }));
}

test("503 is retried after Retry-After, the body sent again", async () => {
  const srv = await fake((n, _req, res) => {
    if (n <= 2) {
      unavailable(res, "2");
      return;
    }
    res.writeHead(201, { "Content-Type": "application/json", ETag: '"1"' });
    res.end(JSON.stringify({ name: "x", version: 1 }));
  });
  try {
    const waits: number[] = [];
    const garo = new GaroClient({ baseUrl: srv.url, token: "t", sleep: async (ms) => void waits.push(ms) });
    const got = await garo.createPolicy("acme", "web", { name: "x", labels: ["l"], max_runners: 1, provider: "docker", runner: { image: "i" } });
    assert.equal(got.etag, '"1"');
    assert.deepEqual(waits, [2000, 2000]);
    assert.equal(srv.requests.length, 3);
    assert.ok(srv.requests.every((r) => r.method === "POST" && JSON.parse(r.body).name === "x"));
  } finally {
    await srv.close();
  }
});

test("retries are bounded, and a long Retry-After is capped", async () => {
  const srv = await fake((_n, _req, res) => unavailable(res, "3600"));
  try {
    const waits: number[] = [];
    const garo = new GaroClient({ baseUrl: srv.url, token: "t", maxRetries: 2, maxRetryDelayMs: 5000, sleep: async (ms) => void waits.push(ms) });
    const err = await garo.whoAmI().then(
      () => assert.fail("an answer that stays 503 succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GaroApiError);
    assert.equal(err.status, 503);
    assert.equal(err.code, "unavailable");
    assert.equal(err.retryAfter, 3600);
    assert.equal(err.requestId, "r-503");
    assert.equal(srv.requests.length, 3, "one try and two retries");
    assert.deepEqual(waits, [5000, 5000]);
  } finally {
    await srv.close();
  }
});

test("without Retry-After the waits double; other errors are not retried", async () => {
  const srv = await fake((n, _req, res) => {
    if (n <= 3) {
      unavailable(res, undefined);
      return;
    }
    res.writeHead(404, { "Content-Type": "application/json" });
    res.end(JSON.stringify({ error: { code: "not_found", message: "no such token" } }));
  });
  try {
    const waits: number[] = [];
    const garo = new GaroClient({ baseUrl: srv.url, token: "t", retryBaseDelayMs: 100, sleep: async (ms) => void waits.push(ms) });
    const err = await garo.getToken("x").then(
      () => assert.fail("404 succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GaroApiError && err.status === 404 && err.code === "not_found");
    assert.deepEqual(waits, [100, 200, 400]);
    assert.equal(srv.requests.length, 4);
  } finally {
    await srv.close();
  }
});

test("an answer that is not the error body", async () => {
  const srv = await fake((_n, _req, res) => {
    res.writeHead(502, { "Content-Type": "text/html" });
    res.end("<html>bad gateway</html>");
  });
  try {
    const err = await new GaroClient({ baseUrl: srv.url, token: "t" }).whoAmI().then(
      () => assert.fail("502 succeeded"),
      (e: unknown) => e,
    );
    assert.ok(err instanceof GaroApiError);
    assert.equal(err.status, 502);
    assert.equal(err.code, "invalid_response");
    assert.equal(srv.requests.length, 1);
  } finally {
    await srv.close();
  }
});
