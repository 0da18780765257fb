// Names for the generated types (schema.ts, made by openapi-typescript from
// portal-api/openapi.yaml): the schemas a portal handles, and the request and answer types
// of each operation, derived from the spec so that they follow it.
import type { components, operations } from "./schema.js";

export type { components, operations, paths } from "./schema.js";

export type Schemas = components["schemas"];

export type Policy = Schemas["Policy"];
export type PolicyCreate = Schemas["PolicyCreate"];
export type PolicyRequest = Schemas["PolicyRequest"];
export type PolicyPatch = Schemas["PolicyPatch"];
export type PolicyList = Schemas["PolicyList"];
export type RunnerSpec = Schemas["RunnerSpec"];
export type Job = Schemas["Job"];
export type JobEvent = Schemas["JobEvent"];
export type JobList = Schemas["JobList"];
export type AgentGroup = Schemas["AgentGroup"];
export type AgentGroupRequest = Schemas["AgentGroupRequest"];
export type AgentGroupPatch = Schemas["AgentGroupPatch"];
export type Agent = Schemas["Agent"];
export type RegistrationToken = Schemas["RegistrationToken"];
export type RegistrationTokenRequest = Schemas["RegistrationTokenRequest"];
export type CreatedRegistrationToken = Schemas["CreatedRegistrationToken"];
export type Token = Schemas["Token"];
export type TokenRequest = Schemas["TokenRequest"];
export type CreatedToken = Schemas["CreatedToken"];
export type WhoAmI = Schemas["WhoAmI"];
export type AuditEvent = Schemas["AuditEvent"];
export type GitHubRateLimits = Schemas["GitHubRateLimits"];
export type GitHubBudget = Schemas["GitHubBudget"];
export type ErrorBody = Schemas["ErrorBody"];
export type ErrorCode = Schemas["ErrorDetail"]["code"];
export type FieldError = Schemas["FieldError"];
export type Scope = Schemas["Scope"];

/** The query parameters of an operation, all optional. */
export type Query<O extends keyof operations> = NonNullable<operations[O]["parameters"]["query"]>;

/** A list query without its cursor: what an iterator over every page takes. */
export type ListQuery<O extends keyof operations> = Omit<Query<O>, "cursor">;

/** The JSON body an operation takes. */
export type Body<O extends keyof operations> = operations[O]["requestBody"] extends
  | { content: { "application/json": infer B } }
  | undefined
  ? B
  : never;

/** The JSON answer of an operation for a status. */
export type Answer<O extends keyof operations, S extends number> = operations[O]["responses"] extends Record<
  S,
  { content: { "application/json": infer A } }
>
  ? A
  : never;

/** A policy as read or written, with the entity tag to send back in `If-Match`. */
export interface Tagged<T> {
  value: T;
  etag: string;
}

/** Options of a conditional write. */
export interface WriteOptions {
  /** The ETag of an earlier read: the write happens only if nobody changed the policy since (412 otherwise). */
  ifMatch?: string;
  signal?: AbortSignal;
}
