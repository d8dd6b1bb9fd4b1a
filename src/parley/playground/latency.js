// Per-turn latency: `turn_start.latency_ms` as soon as the reply's audio starts, then the
// breakdown stored with the turn (GET /v1/conversations/{id} → history[].metadata.latency).

const PARTS = [
  ["end_of_turn_ms", "end of turn"],
  ["stt_final_ms", "STT final"],
  ["llm_first_token_ms", "LLM 1st token"],
  ["llm_ttft_ms", "LLM TTFT"],
  ["tts_first_audio_ms", "TTS 1st audio"],
  ["first_audio_sent_ms", "sent"],
];

export class LatencyTable {
  /** @param {HTMLTableElement} table @param {HTMLElement} summary */
  constructor(table, summary) {
    this.body = table.tBodies[0];
    this.summary = summary;
    this.pending = null; // the row of the reply being spoken
    this.values = [];
  }

  clear() {
    this.body.replaceChildren();
    this.summary.textContent = "";
    this.pending = null;
    this.values = [];
  }

  /** An assistant `turn_start`. */
  started(latencyMs) {
    const row = this.body.insertRow();
    row.insertCell().textContent = "…";
    row.insertCell().textContent = latencyMs === undefined ? "–" : `${latencyMs} ms`;
    const breakdown = row.insertCell();
    breakdown.className = "breakdown";
    breakdown.textContent = "waiting for the turn to be stored…";
    this.pending = row;
    if (typeof latencyMs === "number") {
      this.values.push(latencyMs);
      const sorted = [...this.values].sort((a, b) => a - b);
      const median = sorted[Math.floor(sorted.length / 2)];
      this.summary.textContent = `median ${median} ms over ${sorted.length}`;
    }
  }

  /** An assistant `turn_end`: returns the row to fill once the history is read. */
  ended(turnId) {
    const row = this.pending || this.body.insertRow();
    if (row.cells.length === 0) {
      row.insertCell();
      row.insertCell().textContent = "–";
      row.insertCell().className = "breakdown";
    }
    row.cells[0].textContent = turnId || "–";
    row.dataset.turnId = turnId || "";
    this.pending = null;
    return row;
  }

  /** Fill a row from the stored turn (`history[]` entry). */
  fill(row, turn) {
    const latency = (turn && turn.metadata && turn.metadata.latency) || null;
    const cell = row.cells[2];
    if (!latency) {
      cell.textContent = "no breakdown stored (e.g. a greeting or a typed turn)";
      return;
    }
    cell.replaceChildren();
    for (const [key, label] of PARTS) {
      if (latency[key] === undefined || latency[key] === null) continue;
      const part = document.createElement("span");
      part.className = "part";
      part.title = key;
      part.textContent = `${label} ${Math.round(latency[key])}`;
      cell.append(part);
    }
  }
}
