// The stream: one WebSocket to /v1/conversations/{id}/stream, opened with a short-lived
// stream token offered as the `token.<t>` subprotocol (never the API key, never in the URL).

import { STREAM_RATE } from "./mic.js";

const KEEP_ALIVE_MS = 20000;
const MAX_BUFFERED = 256 * 1024; // bytes not yet sent before mic frames are dropped

/** What a close code means, in words (README: "Close codes"). */
export function closeMessage(code, reason) {
  const known = {
    1000: "The session ended",
    1006: "The connection was lost",
    1011: "Speech recognition is unavailable on the server",
    4000: "The conversation was ended through the API",
    4008: "The server closed the stream: this page was not reading fast enough",
    4409: "This conversation was opened somewhere else (replaced by a newer connection)",
  };
  const text = known[code] || `The stream closed (code ${code})`;
  return reason ? `${text}: ${reason}` : `${text}.`;
}

/**
 * The `wss://`/`ws://` URL to open: the `websocket_url` the API returned (it honours
 * X-Forwarded-Proto/Host and PARLEY_PUBLIC_URL), made secure when the page is — a page
 * behind a TLS proxy that does not forward the scheme still gets wss://.
 */
export function streamUrl(websocketUrl, sessionId, page = location) {
  const url = websocketUrl
    ? new URL(websocketUrl)
    : new URL(`/v1/conversations/${encodeURIComponent(sessionId)}/stream`, page.href);
  if (page.protocol === "https:") url.protocol = "wss:";
  else if (url.protocol === "http:" || url.protocol === "https:") {
    url.protocol = url.protocol === "https:" ? "wss:" : "ws:";
  }
  url.searchParams.set("sample_rate", String(STREAM_RATE));
  url.searchParams.set("encoding", "pcm16");
  return url;
}

export class Stream {
  /**
   * @param {{onOpen: () => void, onEvent: (e: object) => void,
   *          onAudio: (b: ArrayBuffer) => void, onClose: (code: number, reason: string) => void}}
   *        handlers
   */
  constructor(handlers) {
    this.handlers = handlers;
    this.ws = null;
    this.timer = null;
    this.sentMs = 0;
    this.droppedFrames = 0;
  }

  /** Open the socket. `vadThreshold` is optional (server default 0.5). */
  open(url, token, vadThreshold) {
    if (vadThreshold !== undefined) url.searchParams.set("vad_threshold", String(vadThreshold));
    const ws = new WebSocket(url.toString(), ["parley", `token.${token}`]);
    ws.binaryType = "arraybuffer";
    ws.onopen = () => {
      this.timer = setInterval(() => this.send({ type: "keep_alive" }), KEEP_ALIVE_MS);
      this.handlers.onOpen();
    };
    ws.onmessage = (e) => {
      if (typeof e.data !== "string") {
        this.handlers.onAudio(e.data);
        return;
      }
      let event;
      try {
        event = JSON.parse(e.data);
      } catch {
        return; // the server sends JSON only; ignore anything else
      }
      this.handlers.onEvent(event);
    };
    ws.onclose = (e) => {
      clearInterval(this.timer);
      this.ws = null;
      this.handlers.onClose(e.code, e.reason);
    };
    this.ws = ws;
  }

  get isOpen() {
    return this.ws !== null && this.ws.readyState === WebSocket.OPEN;
  }

  /** A control message (JSON). */
  send(message) {
    if (this.isOpen) this.ws.send(JSON.stringify(message));
  }

  /** One microphone frame; dropped if the socket is backed up (the mic is live audio). */
  sendAudio(frame, frameMs) {
    if (!this.isOpen) return;
    if (this.ws.bufferedAmount > MAX_BUFFERED) {
      this.droppedFrames += 1;
      return;
    }
    this.ws.send(frame);
    this.sentMs += frameMs;
  }

  close() {
    if (this.ws) this.ws.close(1000, "closed by the page");
  }
}
