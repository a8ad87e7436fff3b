// The JSON API with the session cookie; every change carries the session's CSRF token.
// A refusal becomes an ApiError whose message is the reader's language (refusals.js).
import { refusalText } from "./refusals.js";

let csrf = null;

export class ApiError extends Error {
  constructor(status, body) {
    const code = body?.code || (Array.isArray(body?.detail) ? "invalid_input" : "unknown");
    const said = refusalText(code, body?.params || {}, status);
    super(said.text);
    this.status = status;
    this.body = body;
    this.code = said.code;
    this.params = body?.params || {};
    this.next = said.next;
  }
}

export function setCsrf(token) {
  csrf = token;
}

// For a request api() cannot make (an upload whose progress is shown: XMLHttpRequest).
export function csrfToken() {
  return csrf;
}

async function request(method, path, body, contentType, accept = "application/json") {
  const headers = { Accept: accept };
  if (body !== undefined) headers["Content-Type"] = contentType;
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  const response = await fetch(path, { method, headers, credentials: "same-origin", body });
  if (response.ok && accept !== "application/json") return response.text();
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  if (response.status === 401 && !path.startsWith("/api/auth/")) {
    window.location.href = "/login";
    throw new ApiError(401, data);
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export function api(method, path, body) {
  return request(method, path, body === undefined ? undefined : JSON.stringify(body), "application/json");
}

// A body that is not JSON: a file (audio upload) or a document's text (mode import).
export function send(method, path, body, contentType = "application/octet-stream") {
  return request(method, path, body, contentType);
}

// A text answer (a version's YAML, a diff).
export function getText(path) {
  return request("GET", path, undefined, undefined, "text/plain");
}

export const get = (path) => api("GET", path);
