import type { ErrorBody, ErrorCode, FieldError } from "./types.js";

/** The code of an answer that was not the API's error body (a proxy's page, say). */
export const INVALID_RESPONSE = "invalid_response";

/**
 * An error answer of garo-server: its status, the stable `code` to switch on, the human
 * `message`, and for validation errors (400) one entry per offending field.
 */
export class GaroApiError extends Error {
  override readonly name = "GaroApiError";
  readonly status: number;
  readonly code: ErrorCode | typeof INVALID_RESPONSE;
  readonly fields: readonly FieldError[];
  /** The X-Request-ID of the answer: quote it when reporting a problem. */
  readonly requestId: string | undefined;
  /** Seconds the server asked to wait (Retry-After of a 429 or 503), when it did. */
  readonly retryAfter: number | undefined;

  constructor(status: number, body: ErrorBody | undefined, requestId: string | undefined, retryAfter: number | undefined) {
    super(body ? `${status} ${body.error.code}: ${body.error.message}` : `${status}: the answer is not the API's error body`);
    this.status = status;
    this.code = body ? body.error.code : INVALID_RESPONSE;
    this.fields = body?.error.fields ?? [];
    this.requestId = requestId;
    this.retryAfter = retryAfter;
  }

  /** The message of the field error for the JSON path `field` (`runner.image`), if any. */
  field(field: string): string | undefined {
    return this.fields.find((f) => f.field === field)?.message;
  }
}

/** Whether err is a GaroApiError with this code (and, if given, this status). */
export function isApiError(err: unknown, code?: ErrorCode): err is GaroApiError {
  return err instanceof GaroApiError && (code === undefined || err.code === code);
}
