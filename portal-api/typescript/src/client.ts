// GaroClient: one method per operation of the portal API, typed from the generated schema.
import { Transport, type Call, type Reply, type TransportOptions } from "./http.js";
import type {
  AgentGroupPatch,
  Answer,
  Body,
  ListQuery,
  Policy,
  PolicyPatch,
  Query,
  Tagged,
  WriteOptions,
} from "./types.js";

export type ClientOptions = TransportOptions;

/** Read options. */
export interface ReadOptions {
  signal?: AbortSignal;
}

const seg = encodeURIComponent;

/**
 * A client of garo-server's portal API. Every method sends one request (503 answers are
 * retried, bounded, after Retry-After) and throws GaroApiError on an error answer.
 */
export class GaroClient {
  private readonly http: Transport;

  constructor(opts: ClientOptions) {
    this.http = new Transport(opts);
  }

  // ---- the calling token

  /** The name, scopes and owner prefixes of the token this client sends. */
  async whoAmI(opts: ReadOptions = {}): Promise<Answer<"whoAmI", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/whoami", signal: opts.signal }));
  }

  /** The build of the server (needs no token). */
  async version(opts: ReadOptions = {}): Promise<Answer<"getVersion", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/version", signal: opts.signal }));
  }

  /**
   * GitHub's rate-limit budgets as garo-server last saw them, per credential and resource.
   * Needs agents:read and a token without owner prefixes (403 otherwise).
   */
  async githubRateLimits(opts: ReadOptions = {}): Promise<Answer<"getGitHubRateLimits", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/github/rate-limit", signal: opts.signal }));
  }

  // ---- policies

  /** One page of the policies the token may see, across repositories. */
  async listPolicies(query: Query<"listPolicies"> = {}, opts: ReadOptions = {}): Promise<Answer<"listPolicies", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/policies", query, signal: opts.signal }));
  }

  /** Every policy the token may see, page after page. */
  policies(query: ListQuery<"listPolicies"> = {}, opts: ReadOptions = {}): AsyncGenerator<Policy> {
    return paginate((cursor) => this.listPolicies(withCursor(query, cursor), opts));
  }

  /** One page of a repository's policies. */
  async listRepoPolicies(owner: string, repo: string, query: Query<"listRepoPolicies"> = {}, opts: ReadOptions = {}): Promise<Answer<"listRepoPolicies", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/repos/${seg(owner)}/${seg(repo)}/policies`, query, signal: opts.signal }));
  }

  /** Every policy of a repository, page after page. */
  repoPolicies(owner: string, repo: string, query: ListQuery<"listRepoPolicies"> = {}, opts: ReadOptions = {}): AsyncGenerator<Policy> {
    return paginate((cursor) => this.listRepoPolicies(owner, repo, withCursor(query, cursor), opts));
  }

  /** Creates a policy; the answer is the stored policy, defaults filled in, and its ETag. */
  async createPolicy(owner: string, repo: string, body: Body<"createPolicy">, opts: ReadOptions = {}): Promise<Tagged<Policy>> {
    return tagged(await this.call({ method: "POST", path: policiesPath(owner, repo), body, signal: opts.signal }));
  }

  /** Reads a policy and its ETag. */
  async getPolicy(owner: string, repo: string, name: string, opts: ReadOptions = {}): Promise<Tagged<Policy>> {
    return tagged(await this.call({ method: "GET", path: policyPath(owner, repo, name), signal: opts.signal }));
  }

  /** Replaces a policy whole (members left out take their defaults again). */
  async replacePolicy(owner: string, repo: string, name: string, body: Body<"replacePolicy">, opts: WriteOptions = {}): Promise<Tagged<Policy>> {
    return tagged(await this.call({ method: "PUT", path: policyPath(owner, repo, name), body, ifMatch: opts.ifMatch, signal: opts.signal }));
  }

  /** Applies a JSON merge patch to a policy (`null` removes a member so that it takes its default). */
  async patchPolicy(owner: string, repo: string, name: string, patch: PolicyPatch, opts: WriteOptions = {}): Promise<Tagged<Policy>> {
    return tagged(
      await this.call({
        method: "PATCH",
        path: policyPath(owner, repo, name),
        body: patch,
        contentType: "application/merge-patch+json",
        ifMatch: opts.ifMatch,
        signal: opts.signal,
      }),
    );
  }

  /** Deletes a policy. */
  async deletePolicy(owner: string, repo: string, name: string, opts: WriteOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: policyPath(owner, repo, name), ifMatch: opts.ifMatch, signal: opts.signal });
  }

  // ---- jobs

  /** One page of jobs across repositories, newest first. */
  async listJobs(query: Query<"listJobs"> = {}, opts: ReadOptions = {}): Promise<Answer<"listJobs", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/jobs", query, signal: opts.signal }));
  }

  /** Every job the filters select, newest first, page after page. */
  jobs(query: ListQuery<"listJobs"> = {}, opts: ReadOptions = {}): AsyncGenerator<Answer<"getJob", 200>> {
    return paginate((cursor) => this.listJobs(withCursor(query, cursor), opts));
  }

  /** One page of a repository's jobs, newest first. */
  async listRepoJobs(owner: string, repo: string, query: Query<"listRepoJobs"> = {}, opts: ReadOptions = {}): Promise<Answer<"listRepoJobs", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/repos/${seg(owner)}/${seg(repo)}/jobs`, query, signal: opts.signal }));
  }

  /** Every job of a repository the filters select, page after page. */
  repoJobs(owner: string, repo: string, query: ListQuery<"listRepoJobs"> = {}, opts: ReadOptions = {}): AsyncGenerator<Answer<"getJob", 200>> {
    return paginate((cursor) => this.listRepoJobs(owner, repo, withCursor(query, cursor), opts));
  }

  /** One job and its timeline. */
  async getJob(owner: string, repo: string, jobId: number | string, opts: ReadOptions = {}): Promise<Answer<"getJob", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/repos/${seg(owner)}/${seg(repo)}/jobs/${seg(String(jobId))}`, signal: opts.signal }));
  }

  // ---- agent groups, agents, registration tokens

  async listAgentGroups(opts: ReadOptions = {}): Promise<Answer<"listAgentGroups", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/agent-groups", signal: opts.signal }));
  }

  async createAgentGroup(body: Body<"createAgentGroup">, opts: ReadOptions = {}): Promise<Answer<"createAgentGroup", 201>> {
    return decode(await this.call({ method: "POST", path: "/api/v1/agent-groups", body, signal: opts.signal }));
  }

  async getAgentGroup(group: string, opts: ReadOptions = {}): Promise<Answer<"getAgentGroup", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/agent-groups/${seg(group)}`, signal: opts.signal }));
  }

  async updateAgentGroup(group: string, patch: AgentGroupPatch, opts: ReadOptions = {}): Promise<Answer<"updateAgentGroup", 200>> {
    return decode(
      await this.call({ method: "PATCH", path: `/api/v1/agent-groups/${seg(group)}`, body: patch, contentType: "application/merge-patch+json", signal: opts.signal }),
    );
  }

  async deleteAgentGroup(group: string, opts: ReadOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: `/api/v1/agent-groups/${seg(group)}`, signal: opts.signal });
  }

  async listAgents(query: Query<"listAgents"> = {}, opts: ReadOptions = {}): Promise<Answer<"listAgents", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/agents", query, signal: opts.signal }));
  }

  async getAgent(id: string, opts: ReadOptions = {}): Promise<Answer<"getAgent", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/agents/${seg(id)}`, signal: opts.signal }));
  }

  async revokeAgent(id: string, opts: ReadOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: `/api/v1/agents/${seg(id)}`, signal: opts.signal });
  }

  /** Asks an agent to drain: no new runners, busy ones finish, its repositories move. Idempotent. */
  async drainAgent(id: string, opts: ReadOptions = {}): Promise<Answer<"drainAgent", 200>> {
    return decode(await this.call({ method: "PUT", path: `/api/v1/agents/${seg(id)}/drain`, signal: opts.signal }));
  }

  /** Lifts an agent's drain: it takes work again from its next heartbeat. Idempotent. */
  async undrainAgent(id: string, opts: ReadOptions = {}): Promise<Answer<"undrainAgent", 200>> {
    return decode(await this.call({ method: "DELETE", path: `/api/v1/agents/${seg(id)}/drain`, signal: opts.signal }));
  }

  async listRegistrationTokens(group: string, opts: ReadOptions = {}): Promise<Answer<"listRegistrationTokens", 200>> {
    return decode(await this.call({ method: "GET", path: registrationTokensPath(group), signal: opts.signal }));
  }

  /** Creates a registration token for agents of group; its secret is in `token`, shown this once. */
  async createRegistrationToken(group: string, body: Body<"createRegistrationToken"> = {}, opts: ReadOptions = {}): Promise<Answer<"createRegistrationToken", 201>> {
    return decode(await this.call({ method: "POST", path: registrationTokensPath(group), body, signal: opts.signal }));
  }

  async getRegistrationToken(group: string, id: string, opts: ReadOptions = {}): Promise<Answer<"getRegistrationToken", 200>> {
    return decode(await this.call({ method: "GET", path: `${registrationTokensPath(group)}/${seg(id)}`, signal: opts.signal }));
  }

  async deleteRegistrationToken(group: string, id: string, opts: ReadOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: `${registrationTokensPath(group)}/${seg(id)}`, signal: opts.signal });
  }

  // ---- API tokens and the audit trail (admin)

  async listTokens(opts: ReadOptions = {}): Promise<Answer<"listTokens", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/tokens", signal: opts.signal }));
  }

  /** Creates an API token; its secret is in `token`, shown this once. */
  async createToken(body: Body<"createToken">, opts: ReadOptions = {}): Promise<Answer<"createToken", 201>> {
    return decode(await this.call({ method: "POST", path: "/api/v1/tokens", body, signal: opts.signal }));
  }

  async getToken(id: string, opts: ReadOptions = {}): Promise<Answer<"getToken", 200>> {
    return decode(await this.call({ method: "GET", path: `/api/v1/tokens/${seg(id)}`, signal: opts.signal }));
  }

  async deleteToken(id: string, opts: ReadOptions = {}): Promise<void> {
    await this.call({ method: "DELETE", path: `/api/v1/tokens/${seg(id)}`, signal: opts.signal });
  }

  async listAuditEvents(query: Query<"listAuditEvents"> = {}, opts: ReadOptions = {}): Promise<Answer<"listAuditEvents", 200>> {
    return decode(await this.call({ method: "GET", path: "/api/v1/audit-events", query, signal: opts.signal }));
  }

  /** Every audit event the filters select, newest first, page after page. */
  auditEvents(query: ListQuery<"listAuditEvents"> = {}, opts: ReadOptions = {}): AsyncGenerator<Answer<"listAuditEvents", 200>["items"][number]> {
    return paginate((cursor) => this.listAuditEvents(withCursor(query, cursor), opts));
  }

  private call(c: Call): Promise<Reply> {
    return this.http.send(c);
  }
}

function policiesPath(owner: string, repo: string): string {
  return `/api/v1/repos/${seg(owner)}/${seg(repo)}/policies`;
}

function policyPath(owner: string, repo: string, name: string): string {
  return `${policiesPath(owner, repo)}/${seg(name)}`;
}

function registrationTokensPath(group: string): string {
  return `/api/v1/agent-groups/${seg(group)}/registration-tokens`;
}

/**
 * The one place where an answer's JSON becomes its generated type. The client does not
 * validate answers; the server's contract tests hold every answer to openapi.yaml.
 */
function decode<T>(reply: Reply): T {
  return reply.body as T;
}

function tagged(reply: Reply): Tagged<Policy> {
  const value = decode<Policy>(reply);
  return { value, etag: reply.headers.get("ETag") ?? `"${value.version}"` };
}

function withCursor<Q extends object>(query: Q, cursor: string | undefined): Q & { cursor?: string } {
  return cursor === undefined ? query : { ...query, cursor };
}

/** The most pages an iterator reads: a guard against a server that never ends a listing. */
export const MAX_PAGES = 10_000;

/**
 * Yields the items of page after page until a page has no next_cursor. It stops with an
 * error when a cursor comes back unchanged or after MAX_PAGES pages, so that it always ends.
 */
export async function* paginate<T>(page: (cursor: string | undefined) => Promise<{ items: T[]; next_cursor?: string }>): AsyncGenerator<T> {
  let cursor: string | undefined;
  for (let n = 0; n < MAX_PAGES; n++) {
    const p = await page(cursor);
    yield* p.items;
    if (p.next_cursor === undefined) {
      return;
    }
    if (p.next_cursor === cursor) {
      throw new Error(`garo: the server answered cursor ${cursor} with itself; stopping`);
    }
    cursor = p.next_cursor;
  }
  throw new Error(`garo: more than ${MAX_PAGES} pages; stopping`);
}
