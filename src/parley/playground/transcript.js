// The live transcript: one bubble per turn, interim text in grey, final text in black.
// Every bubble carries data-role ("user" | "assistant") and data-final ("true" once the
// stored transcript arrived), for people and for tests alike. Text goes in through
// textContent only: nothing the server or the model says is ever parsed as HTML.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

export class Transcript {
  /** @param {HTMLOListElement} list */
  constructor(list) {
    this.list = list;
    this.user = null; // the user bubble waiting for its transcript
    this.assistant = null; // the assistant bubble being spoken
  }

  /** Keep the newest line in view, scrolling the list only (never the page). */
  follow() {
    this.list.scrollTop = this.list.scrollHeight;
  }

  clear() {
    this.list.replaceChildren();
    this.user = this.assistant = null;
  }

  bubble(role, text, final) {
    const item = el("li", "msg");
    item.dataset.role = role;
    item.dataset.final = String(final);
    item.append(el("span", "who", role === "user" ? "You" : "Assistant"));
    item.append(el("p", "text", text));
    item.append(el("span", "meta", ""));
    this.list.append(item);
    this.follow();
    return item;
  }

  set(item, text, final, meta) {
    item.querySelector(".text").textContent = text;
    item.dataset.final = String(final);
    if (meta !== undefined) item.querySelector(".meta").textContent = meta;
    this.follow();
  }

  /** A line from the page itself (session started, interrupted, …). */
  note(text) {
    const item = el("li", "note", text);
    this.list.append(item);
    this.follow();
  }

  userSpeaking() {
    if (!this.user) this.user = this.bubble("user", "…", false);
  }

  /** Interim text (the recogniser's partials while the user speaks), then the final one. */
  userText(text, isFinal, turnId) {
    const item = this.user || this.bubble("user", "", false);
    this.set(item, text, isFinal, turnId || "");
    if (turnId) item.dataset.turnId = turnId;
    this.user = isFinal ? null : item;
  }

  /** Speech that held no words: the pending bubble goes. */
  userDiscarded() {
    if (this.user) this.user.remove();
    this.user = null;
  }

  /** The reply's first audio. Its first sentence's text may have come just before. */
  assistantStarted(latencyMs) {
    if (!this.assistant) this.assistant = this.bubble("assistant", "…", false);
    if (latencyMs !== undefined) {
      this.assistant.querySelector(".meta").textContent = `first audio after ${latencyMs} ms`;
    }
  }

  assistantText(text, isFinal, turnId) {
    if (!this.assistant) this.assistant = this.bubble("assistant", "", false);
    this.set(this.assistant, text, isFinal);
    if (turnId) this.assistant.dataset.turnId = turnId;
  }

  assistantEnded(turnId, interrupted) {
    const item = this.assistant;
    if (!item) return;
    if (turnId) item.dataset.turnId = turnId;
    if (interrupted) {
      item.classList.add("interrupted");
      item.querySelector(".meta").textContent += " · interrupted";
    }
    this.assistant = null;
  }
}
