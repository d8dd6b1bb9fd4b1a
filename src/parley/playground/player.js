// Playback of the assistant's speech: a jitter-tolerant queue on an AudioContext.
//
// Each binary message (pcm16 LE at the stream rate) becomes an AudioBuffer scheduled right
// after the previous one, so they play back to back. When the queue has run dry (the
// first chunk of a reply, or a late one), playback restarts `lead` seconds ahead; every
// underrun in the middle of speech grows the lead a little, up to MAX_LEAD. `flush()`
// stops everything scheduled at once: what `interrupted` asks for. `pause()` holds
// playback where it is (`reply_paused`: the user may only be saying "uh huh") and
// `resume()` plays on from there (`reply_resumed`); audio arriving meanwhile is held too.

const START_LEAD = 0.08; // s of buffer before playback (re)starts
const LEAD_STEP = 0.02;
const MAX_LEAD = 0.3;
const GAP = 0.5; // s: a longer silence is a pause between replies, not an underrun

export class Player {
  /** @param {AudioContext} ctx @param {number} rate the stream's sample rate */
  constructor(ctx, rate) {
    this.ctx = ctx;
    this.rate = rate;
    this.lead = START_LEAD;
    this.nextTime = 0; // when the next buffer starts, in ctx.currentTime seconds
    this.sources = new Set();
    this.scheduled = new Map(); // source → {buffer, at}: when it was set to start
    this.held = null; // while paused: [{buffer, offset}] still to play, in order
    this.receivedMs = 0; // audio received from the server
    this.playedMs = 0; // audio actually played out (not flushed)
    this.underruns = 0;
  }

  /** Queue one message of pcm16 little-endian samples. */
  enqueue(data) {
    const view = new DataView(data);
    const n = Math.floor(data.byteLength / 2);
    if (n === 0) return;
    const buffer = this.ctx.createBuffer(1, n, this.rate);
    const out = buffer.getChannelData(0);
    for (let i = 0; i < n; i++) out[i] = view.getInt16(i * 2, true) / 32768;
    this.receivedMs += (n * 1000) / this.rate;
    if (this.held) {
      this.held.push({ buffer, offset: 0 });
      return;
    }
    this.schedule(buffer, 0);
  }

  /** Play `buffer` from `offset` s right after what is scheduled. */
  schedule(buffer, offset) {
    const now = this.ctx.currentTime;
    if (this.nextTime < now + 0.005) {
      if (this.nextTime > 0 && now - this.nextTime < GAP) {
        // Ran dry moments ago, in the middle of speech: allow more slack from now on.
        this.underruns += 1;
        this.lead = Math.min(MAX_LEAD, this.lead + LEAD_STEP);
      }
      this.nextTime = now + this.lead;
    }
    const source = this.ctx.createBufferSource();
    source.buffer = buffer;
    source.connect(this.ctx.destination);
    source.onended = () => {
      this.scheduled.delete(source);
      if (this.sources.delete(source)) this.playedMs += (buffer.duration - offset) * 1000;
    };
    source.start(this.nextTime, offset);
    this.scheduled.set(source, { buffer, at: this.nextTime - offset });
    this.nextTime += buffer.duration - offset;
    this.sources.add(source);
  }

  /** Hold playback where it is; `resume()` goes on from there. */
  pause() {
    if (this.held) return;
    const now = this.ctx.currentTime;
    const held = [];
    for (const [source, { buffer, at }] of this.scheduled) {
      const offset = Math.max(0, now - at);
      if (offset >= buffer.duration) continue; // played out
      this.playedMs += offset * 1000;
      held.push({ buffer, offset, at });
    }
    held.sort((a, b) => a.at - b.at);
    this.stopAll();
    this.held = held.map(({ buffer, offset }) => ({ buffer, offset }));
  }

  /** Play on from where `pause()` held it. */
  resume() {
    const held = this.held;
    if (!held) return;
    this.held = null;
    for (const { buffer, offset } of held) this.schedule(buffer, offset);
  }

  stopAll() {
    const sources = [...this.sources];
    this.sources.clear(); // before stop(): their onended must not count them as played
    this.scheduled.clear();
    for (const source of sources) {
      try {
        source.stop();
      } catch {
        // never started: nothing to stop
      }
      source.disconnect();
    }
    this.nextTime = 0;
  }

  /** Milliseconds scheduled but not yet played. */
  get queuedMs() {
    if (this.sources.size === 0) return 0;
    return Math.max(0, (this.nextTime - this.ctx.currentTime) * 1000);
  }

  /** Drop everything queued or held, now (barge-in). Returns how many ms were dropped. */
  flush() {
    let dropped = this.queuedMs;
    for (const { buffer, offset } of this.held || []) dropped += (buffer.duration - offset) * 1000;
    this.held = null;
    this.stopAll();
    this.lead = START_LEAD;
    return dropped;
  }
}
