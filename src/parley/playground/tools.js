// Tool calls: each `tool_call` event becomes a card with the call's arguments and a small
// form; the person types the result (JSON, or plain text) and the page sends
// {"type": "tool_result", call_id, result} — or {"type": "tool_result", call_id, error}.

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

/** The text typed as a result: JSON when it parses, else the plain string. */
export function parseResult(text) {
  const trimmed = text.trim();
  try {
    return JSON.parse(trimmed);
  } catch {
    return trimmed;
  }
}

export class ToolCalls {
  /**
   * @param {HTMLElement} box
   * @param {(message: object) => boolean} send sends a control message; false if offline
   */
  constructor(box, send) {
    this.box = box;
    this.send = send;
  }

  clear() {
    this.box.replaceChildren(el("p", "empty", "None yet."));
  }

  /** A `tool_call` event: {call_id, name, arguments}. `timeoutS` is the session's limit. */
  add(call, timeoutS) {
    const empty = this.box.querySelector(".empty");
    if (empty) empty.remove();
    const card = el("div", "tool-call");
    card.dataset.callId = call.call_id;
    const head = el("div", "tool-head");
    head.append(el("strong", "", call.name), el("code", "", call.call_id));
    card.append(head);
    card.append(el("pre", "args", JSON.stringify(call.arguments, null, 2)));

    const form = el("form", "tool-form");
    const input = el("textarea", "mono");
    input.rows = 3;
    input.placeholder = '{"temperature_c": 18, "sky": "cloudy"}';
    input.setAttribute("aria-label", `Result of ${call.name}`);
    const status = el("span", "tool-status", `answer within ${timeoutS} s`);
    const ok = el("button", "primary", "Send result");
    ok.type = "submit";
    const fail = el("button", "", "Send as error");
    fail.type = "button";
    const buttons = el("div", "buttons");
    buttons.append(ok, fail, status);
    form.append(input, buttons);
    card.append(form);

    const answer = (message) => {
      if (!this.send({ type: "tool_result", call_id: call.call_id, ...message })) {
        status.textContent = "not sent: the stream is closed";
        return;
      }
      for (const control of [input, ok, fail]) control.disabled = true;
      status.textContent = "sent";
      card.classList.add("answered");
    };
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      answer({ result: parseResult(input.value) });
    });
    fail.addEventListener("click", () => answer({ error: input.value.trim() || "failed" }));
    this.box.prepend(card);
    input.focus({ preventScroll: true });
  }
}
