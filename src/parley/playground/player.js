// Playback of the assistant's speech: a jitter-tolerant queue on an AudioContext.
//
// Each binary message (pcm16 LE at the stream rate) becomes an AudioBuffer scheduled right
// after the previous one, so they play back to back. When the queue has run dry (the
// first chunk of a reply, or a late one), playback restarts `lead` seconds ahead; every
// underrun in the middle of speech grows the lead a little, up to MAX_LEAD. `flush()`
// stops everything scheduled at once: what `interrupted` asks for.

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
      if (this.sources.delete(source)) this.playedMs += buffer.duration * 1000;
    };
    source.start(this.nextTime);
    this.nextTime += buffer.duration;
    this.sources.add(source);
  }

  /** Milliseconds scheduled but not yet played. */
  get queuedMs() {
    if (this.sources.size === 0) return 0;
    return Math.max(0, (this.nextTime - this.ctx.currentTime) * 1000);
  }

  /** Drop everything queued, now (barge-in). Returns how many ms were dropped. */
  flush() {
    const dropped = this.queuedMs;
    const sources = [...this.sources];
    this.sources.clear(); // before stop(): their onended must not count them as played
    for (const source of sources) {
      try {
        source.stop();
      } catch {
        // never started: nothing to stop
      }
      source.disconnect();
    }
    this.nextTime = 0;
    this.lead = START_LEAD;
    return dropped;
  }
}
