// The service's JSON API, as the page uses it.
//
// The API key lives in sessionStorage: it is sent in the Authorization header only, never
// in a URL, and it is gone when the tab is closed. Paths are relative to the page, so the
// page also works behind a reverse proxy that serves the service under a sub-path.

const KEY = "frd.apiKey";

export const auth = {
  get key() { return sessionStorage.getItem(KEY); },
  set key(value) {
    if (value) sessionStorage.setItem(KEY, value);
    else sessionStorage.removeItem(KEY);
  },
  /** "keys" when the service asks for an API key; "open" when it serves this computer without one. */
  mode: null,
};

export class ApiError extends Error {
  constructor(status, body, fallback) {
    const error = (body && body.error) || {};
    super(error.message || fallback || `the service answered ${status}`);
    this.status = status;
    this.code = error.code || "http_error";
    this.body = body;
  }
}

function headers(extra) {
  const h = { Accept: "application/json", ...extra };
  if (auth.key) h.Authorization = `Bearer ${auth.key}`;
  return h;
}

function unauthorized() {
  window.dispatchEvent(new CustomEvent("frd:unauthorized"));
}

async function parse(response) {
  const text = await response.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch {
    return { error: { message: `the service answered ${response.status} with something that is not JSON` } };
  }
}

/** request("GET", "v1/datasets") → the parsed JSON body; throws ApiError on any failure. */
export async function request(method, path, { json, signal, accept } = {}) {
  let response;
  try {
    response = await fetch(path, {
      method,
      headers: headers(json !== undefined ? { "Content-Type": "application/json" } : accept ? { Accept: accept } : {}),
      body: json !== undefined ? JSON.stringify(json) : undefined,
      signal,
      cache: "no-store",
      credentials: "omit",
    });
  } catch (err) {
    if (err.name === "AbortError") throw err;
    throw new ApiError(0, null, "the service cannot be reached (is it still running?)");
  }
  if (response.status === 401) unauthorized();
  if (accept && response.ok) return response.blob();
  const body = await parse(response);
  if (!response.ok) throw new ApiError(response.status, body);
  return body;
}

export const get = (path, opts) => request("GET", path, opts);
export const post = (path, json) => request("POST", path, { json });
export const del = (path) => request("DELETE", path);

/**
 * Upload a multipart form with progress. Returns {promise, abort}; onProgress(sentBytes,
 * totalBytes) is called as the browser sends the body (the browser streams the files from
 * disk: nothing is read into the page's memory).
 */
export function upload(path, form, onProgress) {
  const xhr = new XMLHttpRequest();
  const promise = new Promise((resolve, reject) => {
    xhr.open("POST", path);
    for (const [name, value] of Object.entries(headers())) xhr.setRequestHeader(name, value);
    xhr.responseType = "text";
    xhr.upload.addEventListener("progress", (e) => onProgress(e.loaded, e.lengthComputable ? e.total : null));
    xhr.addEventListener("load", () => {
      let body = null;
      try { body = xhr.responseText ? JSON.parse(xhr.responseText) : null; } catch { body = null; }
      if (xhr.status === 401) unauthorized();
      if (xhr.status >= 200 && xhr.status < 300) resolve(body);
      else reject(new ApiError(xhr.status, body));
    });
    xhr.addEventListener("error", () => reject(new ApiError(0, null,
      "the upload was interrupted: the connection was lost, or the service stopped it before the end "
      + "(a set larger than it accepts is refused as soon as the limit is passed)")));
    xhr.addEventListener("abort", () => reject(new ApiError(0, null, "the upload was cancelled")));
    xhr.send(form);
  });
  return { promise, abort: () => xhr.abort() };
}

/** Every page of a listing, up to `max` items (the page asks for what it shows). */
export async function listAll(path, max = 1000) {
  const items = [];
  let cursor = null;
  do {
    const sep = path.includes("?") ? "&" : "?";
    const page = await get(`${path}${sep}limit=200${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    items.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && items.length < max);
  return items;
}
