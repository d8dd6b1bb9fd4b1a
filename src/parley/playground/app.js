// The playground page: set-up form → conversation → live stream, wired together.
//
//   Start: key check (GET /v1/voices) → microphone → POST /v1/conversations/create
//          → POST …/stream_token → WebSocket (subprotocols ["parley", "token.<t>"])
//   mic (AudioWorklet, 16 kHz pcm16, 20 ms) ──▶ socket ──▶ events + speech ──▶ Player
//   `interrupted` flushes the Player at once; each assistant `turn_end` reads the
//   stored latency breakdown back from GET /v1/conversations/{id}.

import { Api, ApiError, apiErrorMessage } from "./api.js";
import { LatencyTable } from "./latency.js";
import { FRAME_MS, Mic, STREAM_RATE } from "./mic.js";
import { Player } from "./player.js";
import { Stream, closeMessage, streamUrl } from "./stream.js";
import { ToolCalls } from "./tools.js";
import { Transcript } from "./transcript.js";

const $ = (id) => document.getElementById(id);

const DEFAULT_PERSONA =
  "You are a friendly voice assistant. Answer in one or two short spoken sentences, " +
  "without lists or markdown.";
const EXAMPLE_TOOLS = [
  {
    name: "get_weather",
    description: "Current weather in a city",
    parameters: { city: { type: "string", required: true } },
  },
];

const ui = {
  transcript: new Transcript($("transcript")),
  latency: new LatencyTable($("latency"), $("latency-summary")),
  tools: new ToolCalls($("tool-calls"), (message) => send(message)),
};

// Everything about the current session; reset by stop().
let session = null;
let api = null; // holds the key (in memory only); replaced when the key field changes
let voicesLoaded = false;

// --- messages on the page -------------------------------------------------------------

function setStatus(state, text) {
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

/** A plain message in the alert area; `kind` is "error" or "info". */
function showAlert(text, kind = "error", code = "") {
  const box = document.createElement("div");
  box.className = `alert ${kind}`;
  if (code) box.dataset.code = code;
  const body = document.createElement("span");
  body.textContent = text;
  const close = document.createElement("button");
  close.type = "button";
  close.className = "close";
  close.setAttribute("aria-label", "Dismiss");
  close.textContent = "×";
  close.addEventListener("click", () => box.remove());
  box.append(body, close);
  $("alerts").append(box);
  while ($("alerts").children.length > 4) $("alerts").firstElementChild.remove();
}

function clearAlerts() {
  $("alerts").replaceChildren();
}

/** The stream's `error` event, in words. */
function streamError(code, message) {
  if (code === "llm_not_configured") {
    return `No LLM is configured on the server, so the assistant cannot answer. ${message}`;
  }
  if (code.startsWith("llm_")) return `The language model failed (${code}): ${message}`;
  if (code.startsWith("stt_")) return `Speech recognition failed (${code}): ${message}`;
  return `${message} (${code})`;
}

// --- voices -------------------------------------------------------------------------------

function currentApi() {
  const key = $("api-key").value.trim();
  if (!key) throw new Error("Paste your API key first (parley keys create prints one).");
  if (!api || !api.holds(key)) {
    api = new Api(key);
    voicesLoaded = false;
  }
  return api;
}

function languageName(code) {
  try {
    const name = new Intl.DisplayNames(["en"], { type: "language" }).of(code);
    return name && name !== code ? `${name} (${code})` : code;
  } catch {
    return code;
  }
}

/** Fill the language list from every voice, then the voices of the chosen language. */
async function loadVoices() {
  const client = currentApi();
  const all = await client.voices();
  const languages = [...new Set(all.map((v) => v.language).filter(Boolean))].sort();
  const select = $("language");
  const keep = select.value || "en";
  select.replaceChildren(
    ...languages.map((code) => new Option(languageName(code), code, false, code === keep)),
  );
  if (!languages.includes(keep) && languages.length) select.value = languages[0];
  await loadVoicesFor(select.value);
  voicesLoaded = true;
}

async function loadVoicesFor(language) {
  const voices = await currentApi().voices(language);
  const select = $("voice");
  const keep = select.value;
  select.replaceChildren(
    ...voices.map((v) => {
      const label = `${v.name} · ${v.engine}`;
      return new Option(label, v.voice_id, false, v.voice_id === keep);
    }),
  );
  if (!voices.length) select.append(new Option("No voice for this language", ""));
  // A sensible default: the bundled neural voice, else the first female US English one.
  if (!voices.some((v) => v.voice_id === keep)) {
    const preferred =
      voices.find((v) => v.voice_id === "piper-en-us-joe") ||
      voices.find((v) => /en-us-female/.test(v.voice_id));
    if (preferred) select.value = preferred.voice_id;
  }
}

/** An exception in words: API and network failures explained, the page's own as they are. */
function describe(err) {
  return err instanceof ApiError || err instanceof TypeError ? apiErrorMessage(err) : err.message;
}

async function guarded(task) {
  try {
    await task();
  } catch (err) {
    showAlert(describe(err));
  }
}

// --- the session --------------------------------------------------------------------------

function send(message) {
  if (!session || !session.stream.isOpen) return false;
  session.stream.send(message);
  return true;
}

function readTools() {
  const text = $("tools").value.trim();
  if (!text) return null;
  let tools;
  try {
    tools = JSON.parse(text);
  } catch (err) {
    throw new Error(`The tools are not valid JSON: ${err.message}`);
  }
  if (!Array.isArray(tools)) throw new Error("The tools must be a JSON list.");
  return tools.length ? tools : null;
}

async function start() {
  clearAlerts();
  $("start").disabled = true;
  setStatus("connecting", "Connecting…");
  const timeoutS = Math.max(1, Math.min(300, Number($("tool-timeout").value) || 60));
  const s = { ctx: null, mic: null, player: null, stream: null, id: null, stopping: false };
  session = s;
  try {
    const client = currentApi();
    if (!voicesLoaded) await loadVoices(); // also checks the key before the microphone
    const tools = readTools();
    if (!$("voice").value) throw new Error("Choose a voice (Load voices first).");

    s.ctx = new AudioContext({ latencyHint: "interactive" });
    await s.ctx.resume();
    s.player = new Player(s.ctx, STREAM_RATE);
    s.mic = new Mic(
      s.ctx,
      (frame) => s.stream && s.stream.sendAudio(frame, FRAME_MS),
      (level) => ($("mic-level").style.width = `${Math.min(100, level * 400)}%`),
    );
    // Before the conversation exists: a denied microphone costs nothing.
    await s.mic.start({
      echoCancellation: $("aec").checked,
      noiseSuppression: $("ns").checked,
      autoGainControl: $("agc").checked,
    });

    const body = {
      voice_id: $("voice").value,
      language: $("language").value,
      system_prompt: $("persona").value.trim() || DEFAULT_PERSONA,
      settings: { tool_timeout_ms: timeoutS * 1000 },
    };
    if (tools) body.tools = tools;
    const conv = await client.createConversation(body);
    s.id = conv.session_id;
    $("session-id").textContent = s.id;
    const grant = await client.streamToken(s.id);
    if (session !== s) return; // stopped meanwhile

    ui.transcript.clear();
    ui.latency.clear();
    ui.tools.clear();
    s.timeoutS = timeoutS;
    s.interruptions = 0;
    s.stream = new Stream({
      onOpen: () => {
        s.everOpened = true;
        setStatus("connecting", "Connected, starting the session…");
      },
      onEvent: (event) => onEvent(s, event),
      onAudio: (data) => s.player.enqueue(data),
      onClose: (code, reason) => onClose(s, code, reason),
    });
    const vad = Number($("vad").value);
    s.stream.open(streamUrl(grant.websocket_url, s.id), grant.token, vad);
    s.stats = setInterval(() => showStats(s), 200);
    $("stop").disabled = false;
    $("mute").disabled = false;
  } catch (err) {
    showAlert(describe(err));
    await teardown(s, false);
    setStatus("error", "Not connected");
  }
}

// The stream's recent events, for the browser's console and for tests (no secrets in them).
const eventLog = [];
window.parleyEvents = eventLog;

function onEvent(s, e) {
  if (session !== s) return;
  eventLog.push({ at: Math.round(performance.now()), ...e });
  if (eventLog.length > 500) eventLog.shift();
  switch (e.type) {
    case "session_started":
      setStatus("live", "Listening — say something");
      ui.transcript.note(e.resumed ? "Session resumed." : "Session started. Say something.");
      $("say-text").disabled = $("say").disabled = false;
      break;
    case "turn_start":
      if (e.role === "user") {
        ui.transcript.userSpeaking();
        setStatus("live", "You are speaking…");
      } else {
        ui.transcript.assistantStarted(e.latency_ms);
        ui.latency.started(e.latency_ms);
        setStatus("live", "Assistant speaking — talk to interrupt");
      }
      break;
    case "transcript":
      if (e.role === "user") ui.transcript.userText(e.text, e.is_final, e.turn_id);
      else ui.transcript.assistantText(e.text, e.is_final, e.turn_id);
      break;
    case "turn_end":
      if (e.role === "user") {
        if (e.discarded) ui.transcript.userDiscarded();
      } else {
        ui.transcript.assistantEnded(e.turn_id, e.interrupted);
        const row = ui.latency.ended(e.turn_id);
        if (e.turn_id && !e.replayed) fillLatency(s, row, e.turn_id);
        setStatus("live", "Listening");
      }
      break;
    case "reply_paused":
      s.player.pause(); // hold playback: it may only be "uh huh"
      break;
    case "reply_resumed":
      // from_ms < played_ms: the pause cut a word, sent again from its start
      if (e.from_ms !== undefined && e.from_ms < e.played_ms) s.player.flush();
      else s.player.resume();
      break;
    case "interrupted": {
      const dropped = s.player.flush(); // at once: the reply must stop now
      eventLog[eventLog.length - 1].page = { dropped_ms: dropped, played_ms: s.player.playedMs };
      s.interruptions += 1;
      ui.transcript.note(`Interrupted after ${e.played_ms} ms (${Math.round(dropped)} ms dropped).`);
      setStatus("live", "You are speaking…");
      break;
    }
    case "tool_call":
      ui.tools.add(e, s.timeoutS);
      break;
    case "error":
      showAlert(streamError(e.code || "error", e.message || ""), "error", e.code);
      break;
    case "session_ended":
      s.endedReason = e.reason;
      break;
    default:
      break; // acknowledgements of control messages the page does not send
  }
}

async function fillLatency(s, row, turnId) {
  try {
    const conv = await currentApi().conversation(s.id);
    ui.latency.fill(row, conv.history.find((t) => t.turn_id === turnId));
  } catch (err) {
    row.cells[2].textContent = `could not read the history: ${apiErrorMessage(err)}`;
  }
}

function onClose(s, code, reason) {
  if (session !== s) return;
  if (!s.stopping) {
    let text = closeMessage(code, reason);
    // 4000 (ended through the API) says so; other ends say their reason
    if (s.endedReason && code !== 4000) text = `The session ended (${s.endedReason}).`;
    if (code === 1006 && !s.everOpened) text = "Could not open the stream (refused or unreachable).";
    showAlert(text, code === 1000 ? "info" : "error", `close_${code}`);
  }
  setStatus("ended", s.endedReason ? `Session ended: ${s.endedReason}` : "Disconnected");
  teardown(s, false);
}

function showStats(s) {
  const set = (id, ms) => {
    const node = $(id);
    node.textContent = String(Math.round(ms));
    if (node.dataset.ms !== undefined) node.dataset.ms = String(Math.round(ms));
  };
  if (s.stream) set("stat-sent", s.stream.sentMs);
  if (s.player) {
    set("stat-received", s.player.receivedMs);
    set("stat-played", s.player.playedMs);
    set("stat-queued", s.player.queuedMs);
  }
  $("stat-interruptions").textContent = String(s.interruptions || 0);
}

/** Release the microphone, the socket and the audio; optionally end the conversation. */
async function teardown(s, endConversation) {
  s.stopping = true;
  if (s.stats) {
    showStats(s);
    clearInterval(s.stats);
  }
  if (s.stream) s.stream.close();
  if (s.mic) s.mic.stop();
  if (s.player) s.player.flush();
  if (s.ctx) s.ctx.close().catch(() => {});
  $("start").disabled = false;
  $("stop").disabled = true;
  $("mute").disabled = true;
  $("mute").setAttribute("aria-pressed", "false");
  $("mute").textContent = "Mute mic";
  $("say-text").disabled = $("say").disabled = true;
  $("mic-level").style.width = "0";
  if (endConversation && s.id) {
    try {
      await currentApi().endConversation(s.id); // history stays readable
    } catch {
      // already ended, or the server is gone: nothing left to do
    }
  }
}

async function stop() {
  const s = session;
  if (!s) return;
  await teardown(s, true);
  setStatus("ended", "Stopped");
}

// --- wiring -------------------------------------------------------------------------------

function init() {
  $("persona").value = DEFAULT_PERSONA;
  $("tools").value = JSON.stringify(EXAMPLE_TOOLS, null, 2);
  $("setup-form").addEventListener("submit", (e) => {
    e.preventDefault();
    start();
  });
  $("load-voices").addEventListener("click", () => guarded(loadVoices));
  $("api-key").addEventListener("change", () => {
    if ($("api-key").value.trim()) guarded(loadVoices);
  });
  $("language").addEventListener("change", () =>
    guarded(() => loadVoicesFor($("language").value)),
  );
  $("stop").addEventListener("click", stop);
  $("mute").addEventListener("click", () => {
    if (!session || !session.mic) return;
    session.mic.muted = !session.mic.muted;
    $("mute").setAttribute("aria-pressed", String(session.mic.muted));
    $("mute").textContent = session.mic.muted ? "Unmute mic" : "Mute mic";
  });
  $("say-form").addEventListener("submit", (e) => {
    e.preventDefault();
    const text = $("say-text").value.trim();
    if (text && send({ type: "inject_user_message", text })) $("say-text").value = "";
  });
  window.addEventListener("pagehide", () => session && teardown(session, false));
  document.body.dataset.ready = "true"; // the module ran (tests wait for this)
}

init();
