// The transport under the client: one request, with the token, a timeout, the API's error
// body turned into a GaroApiError, and bounded retries of 503 answers (the server says
// nothing was written and how long to wait in Retry-After).
import { GaroApiError } from "./errors.js";
import type { ErrorBody } from "./types.js";

export interface TransportOptions {
  /** The server's base URL, e.g. `https://garo.example.com` (no `/api/v1`). */
  baseUrl: string;
  /** An API token (`garo_...`), sent as `Authorization: Bearer <token>`. */
  token: string;
  /** The fetch to use; the global one by default. */
  fetch?: typeof fetch;
  /** Retries of a 503 answer before its error is thrown; 3 by default, 0 turns retries off. */
  maxRetries?: number;
  /** The longest wait between two tries, whatever Retry-After says; 30 s by default. */
  maxRetryDelayMs?: number;
  /** The wait before the first retry when the answer has no Retry-After; doubled each time, 1 s by default. */
  retryBaseDelayMs?: number;
  /** Time allowed for one try, answer body included; 30 s by default. */
  timeoutMs?: number;
  /** Waits between tries; replaced in tests so that they do not wait for real. */
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

export interface Call {
  method: "GET" | "POST" | "PUT" | "PATCH" | "DELETE";
  path: string;
  query?: Record<string, string | number | boolean | undefined> | undefined;
  body?: unknown;
  contentType?: string;
  ifMatch?: string | undefined;
  signal?: AbortSignal | undefined;
}

export interface Reply {
  status: number;
  headers: Headers;
  /** The parsed JSON body, undefined for an empty one (204). */
  body: unknown;
}

const defaults = {
  maxRetries: 3,
  maxRetryDelayMs: 30_000,
  retryBaseDelayMs: 1_000,
  timeoutMs: 30_000,
};

export class Transport {
  private readonly base: string;
  private readonly token: string;
  private readonly fetchFn: typeof fetch;
  private readonly maxRetries: number;
  private readonly maxRetryDelayMs: number;
  private readonly retryBaseDelayMs: number;
  private readonly timeoutMs: number;
  private readonly sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(opts: TransportOptions) {
    this.base = opts.baseUrl.replace(/\/+$/, "");
    this.token = opts.token;
    this.fetchFn = opts.fetch ?? globalThis.fetch.bind(globalThis);
    this.maxRetries = Math.max(0, opts.maxRetries ?? defaults.maxRetries);
    this.maxRetryDelayMs = opts.maxRetryDelayMs ?? defaults.maxRetryDelayMs;
    this.retryBaseDelayMs = opts.retryBaseDelayMs ?? defaults.retryBaseDelayMs;
    this.timeoutMs = opts.timeoutMs ?? defaults.timeoutMs;
    this.sleep = opts.sleep ?? sleep;
  }

  /** Sends call, retrying 503 answers at most maxRetries times; throws GaroApiError on an error answer. */
  async send(call: Call): Promise<Reply> {
    const url = this.url(call);
    const headers: Record<string, string> = {
      Authorization: `Bearer ${this.token}`,
      Accept: "application/json",
    };
    let payload: string | undefined;
    if (call.body !== undefined) {
      payload = JSON.stringify(call.body);
      headers["Content-Type"] = call.contentType ?? "application/json";
    }
    if (call.ifMatch !== undefined) {
      headers["If-Match"] = call.ifMatch;
    }
    for (let attempt = 0; ; attempt++) {
      const reply = await this.once(url, call, headers, payload);
      if (reply.status !== 503 || attempt >= this.maxRetries) {
        return check(reply);
      }
      const after = retryAfterSeconds(reply.headers);
      const wait = after !== undefined ? after * 1000 : this.retryBaseDelayMs * 2 ** attempt;
      await this.sleep(Math.min(wait, this.maxRetryDelayMs), call.signal);
    }
  }

  private url(call: Call): string {
    const q = new URLSearchParams();
    for (const [k, v] of Object.entries(call.query ?? {})) {
      if (v !== undefined) {
        q.set(k, String(v));
      }
    }
    const qs = q.toString();
    return this.base + call.path + (qs ? `?${qs}` : "");
  }

  private async once(url: string, call: Call, headers: Record<string, string>, payload: string | undefined): Promise<Reply> {
    const ctl = new AbortController();
    const timer = setTimeout(() => ctl.abort(new Error(`garo: ${call.method} ${call.path} took longer than ${this.timeoutMs} ms`)), this.timeoutMs);
    const onAbort = () => ctl.abort(call.signal?.reason);
    call.signal?.addEventListener("abort", onAbort, { once: true });
    try {
      const init: RequestInit = { method: call.method, headers, signal: ctl.signal };
      if (payload !== undefined) {
        init.body = payload;
      }
      const res = await this.fetchFn(url, init);
      const text = await res.text();
      return { status: res.status, headers: res.headers, body: parseJSON(text) };
    } finally {
      clearTimeout(timer);
      call.signal?.removeEventListener("abort", onAbort);
    }
  }
}

function check(reply: Reply): Reply {
  if (reply.status < 400) {
    return reply;
  }
  throw new GaroApiError(
    reply.status,
    isErrorBody(reply.body) ? reply.body : undefined,
    reply.headers.get("X-Request-ID") ?? undefined,
    retryAfterSeconds(reply.headers),
  );
}

function parseJSON(text: string): unknown {
  if (text === "") {
    return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

function isErrorBody(v: unknown): v is ErrorBody {
  if (typeof v !== "object" || v === null || !("error" in v)) {
    return false;
  }
  const e = v.error;
  return typeof e === "object" && e !== null && "code" in e && typeof e.code === "string" && "message" in e && typeof e.message === "string";
}

/** Retry-After in seconds (garo-server sends whole seconds), or undefined. */
function retryAfterSeconds(h: Headers): number | undefined {
  const v = h.get("Retry-After");
  if (v === null || !/^[0-9]+$/.test(v.trim())) {
    return undefined;
  }
  return Number(v.trim());
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(signal.reason);
      return;
    }
    const timer = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(timer);
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
