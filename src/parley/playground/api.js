// The REST API, called with the person's API key. The key lives in this object only
// (a private field): it goes out in the Authorization header of same-origin fetches,
// never in a URL, never to the WebSocket, never into the page's HTML or storage.

export class ApiError extends Error {
  constructor(status, message, param) {
    super(message);
    this.status = status;
    this.param = param;
  }
}

/** A plain-language message for an API error (401 = the key). */
export function apiErrorMessage(err) {
  if (err instanceof ApiError && err.status === 401) {
    return `The API key was refused (${err.message}). Check it and try again.`;
  }
  if (err instanceof ApiError) return `${err.message} (HTTP ${err.status})`;
  return `Could not reach the server: ${err.message || err}`;
}

export class Api {
  #key;

  constructor(key) {
    this.#key = key;
  }

  /** Whether this client was made with `key` (so the page notices an edited field). */
  holds(key) {
    return this.#key === key;
  }

  async request(method, path, body) {
    const init = {
      method,
      headers: { Authorization: `Bearer ${this.#key}` },
      cache: "no-store",
      credentials: "omit",
      referrerPolicy: "no-referrer",
    };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    const response = await fetch(path, init);
    let data = null;
    try {
      data = await response.json();
    } catch {
      // an empty or non-JSON body: reported below by status
    }
    if (!response.ok) {
      const detail = data && data.error ? data.error : {};
      throw new ApiError(response.status, detail.message || response.statusText, detail.param);
    }
    return data;
  }

  /** GET /v1/voices[?language=xx] → the voice list. */
  async voices(language) {
    const query = language ? `?language=${encodeURIComponent(language)}` : "";
    return (await this.request("GET", `/v1/voices${query}`)).data;
  }

  createConversation(body) {
    return this.request("POST", "/v1/conversations/create", body);
  }

  /** A short-lived, session-scoped token for the stream: {token, expires_at, websocket_url}. */
  streamToken(sessionId) {
    return this.request("POST", `/v1/conversations/${encodeURIComponent(sessionId)}/stream_token`);
  }

  conversation(sessionId) {
    return this.request("GET", `/v1/conversations/${encodeURIComponent(sessionId)}`);
  }

  endConversation(sessionId) {
    return this.request("DELETE", `/v1/conversations/${encodeURIComponent(sessionId)}`);
  }
}
