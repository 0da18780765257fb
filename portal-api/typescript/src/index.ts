export { GaroClient, paginate, MAX_PAGES, type ClientOptions, type ReadOptions } from "./client.js";
export { GaroApiError, isApiError, INVALID_RESPONSE } from "./errors.js";
export type { TransportOptions } from "./http.js";
export * from "./types.js";
