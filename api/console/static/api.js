// The JSON API over fetch with the bearer token. Errors arrive as {"error": {"code", "message"}}.

export const API = document.body.dataset.api;
const TOKEN_KEY = "jieya.token";
const DEFAULT_TIMEOUT_MS = 45000; // a decision may take the API up to 30 s to confirm

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message || code);
    this.status = status;
    this.code = code;
  }
}

export const getToken = () => sessionStorage.getItem(TOKEN_KEY);
export const setToken = (token) => sessionStorage.setItem(TOKEN_KEY, token);
export const clearToken = () => sessionStorage.removeItem(TOKEN_KEY);

let unauthorized = () => {};
export function onUnauthorized(handler) {
  unauthorized = handler;
}

export async function request(path, options = {}) {
  const { method = "GET", json, query, headers = {}, as = "json", timeoutMs = DEFAULT_TIMEOUT_MS } = options;
  const url = new URL(API + path, location.origin);
  for (const [name, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(name, value);
  }
  const init = { method, cache: "no-store", headers: { Accept: "application/json", ...headers } };
  const token = getToken();
  if (token) init.headers.Authorization = `Bearer ${token}`;
  if (json !== undefined) {
    init.headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(json);
  }
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(), timeoutMs);
  init.signal = controller.signal;
  let response;
  try {
    response = await fetch(url, init);
  } catch (error) {
    throw new ApiError(0, error.name === "AbortError" ? "timeout" : "network", "");
  } finally {
    clearTimeout(timer);
  }
  if (!response.ok) {
    let body = null;
    try {
      body = await response.json();
    } catch {
      // Not our JSON (a proxy's error page): the status says enough.
    }
    const error = new ApiError(response.status, body?.error?.code || "http_error", body?.error?.message || response.statusText);
    if (response.status === 401 && !options.allowUnauthorized) unauthorized(error);
    throw error;
  }
  if (as === "blob") return response.blob();
  if (response.status === 204) return null;
  return response.json();
}

// A 404 from a route the server does not have (rather than from a missing case or task).
export const isMissingRoute = (error) => error instanceof ApiError && error.status === 404 && error.code === "not_found";

let features = null;

// Optional endpoints, read from the API's own OpenAPI, so buttons only show when they can work.
export function capabilities() {
  if (!features) {
    features = fetch(`${API}/openapi.json`, { cache: "no-store" })
      .then((response) => (response.ok ? response.json() : { paths: {} }))
      .catch(() => ({ paths: {} }))
      .then((spec) => {
        const paths = spec.paths || {};
        const op = (path, method) => paths[API + path]?.[method];
        const caseParams = op("/cases/{case_id}", "get")?.parameters || [];
        return {
          me: Boolean(op("/me", "get")),
          claim: Boolean(op("/tasks/{task_id}/claim", "post")),
          release: Boolean(op("/tasks/{task_id}/release", "post")),
          reveal: caseParams.some((p) => p.name === "reveal"),
        };
      });
  }
  return features;
}
