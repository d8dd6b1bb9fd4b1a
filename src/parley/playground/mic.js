// Microphone capture: getUserMedia → AudioWorklet (mic-worklet.js) → 20 ms pcm16 frames.

export const STREAM_RATE = 16000; // the rate asked of the stream (?sample_rate=16000)
export const FRAME_MS = 20;
export const DEFAULT_PROCESSING = {
  echoCancellation: true,
  noiseSuppression: false,
  autoGainControl: true,
};

/** A plain-language reason for a getUserMedia failure. */
export function micErrorMessage(err) {
  switch (err && err.name) {
    case "NotAllowedError":
    case "SecurityError":
      return (
        "Microphone access was denied. Allow the microphone for this site " +
        "(the icon in the address bar), then press Start again."
      );
    case "NotFoundError":
    case "OverconstrainedError":
      return "No microphone was found. Plug one in, then press Start again.";
    case "NotReadableError":
    case "AbortError":
      return "The microphone is in use by another application or could not be opened.";
    default:
      return `Could not open the microphone: ${err && err.message ? err.message : err}`;
  }
}

export class Mic {
  /**
   * @param {AudioContext} ctx the page's audio context (shared with playback)
   * @param {(frame: ArrayBuffer) => void} onFrame called with each 20 ms pcm16 LE frame
   * @param {(level: number) => void} onLevel RMS input level, 0..1, ~10 times a second
   */
  constructor(ctx, onFrame, onLevel) {
    this.ctx = ctx;
    this.onFrame = onFrame;
    this.onLevel = onLevel;
    this.muted = false;
    this.stream = null;
    this.source = null;
    this.node = null;
  }

  /**
   * Ask for the microphone and start producing frames; throws with a readable message.
   * `processing`: the browser's own echo cancellation, noise suppression and gain control.
   * Echo cancellation keeps the assistant's voice (from speakers) from barging in; noise
   * suppression is off by default: it smears speech enough to cost the recogniser words.
   */
  async start(processing = DEFAULT_PROCESSING) {
    if (!window.isSecureContext || !navigator.mediaDevices) {
      throw new Error(
        "The microphone needs a secure context: open the playground over https:// " +
          "or at http://127.0.0.1 / http://localhost.",
      );
    }
    try {
      this.stream = await navigator.mediaDevices.getUserMedia({
        audio: { channelCount: 1, ...processing },
      });
    } catch (err) {
      throw new Error(micErrorMessage(err));
    }
    await this.ctx.audioWorklet.addModule("/playground/mic-worklet.js");
    this.source = this.ctx.createMediaStreamSource(this.stream);
    this.node = new AudioWorkletNode(this.ctx, "parley-mic", {
      numberOfInputs: 1,
      numberOfOutputs: 0,
      channelCount: 1,
      channelCountMode: "explicit", // a stereo device is mixed down to mono
      processorOptions: { targetRate: STREAM_RATE, frameMs: FRAME_MS },
    });
    this.node.port.onmessage = (e) => {
      if (e.data.frame) {
        // Muted: send silence rather than nothing, so a turn in progress can end.
        this.onFrame(this.muted ? new ArrayBuffer(e.data.frame.byteLength) : e.data.frame);
      } else if (e.data.level !== undefined) {
        this.onLevel(this.muted ? 0 : e.data.level);
      }
    };
    this.source.connect(this.node);
  }

  stop() {
    if (this.source) this.source.disconnect();
    if (this.node) this.node.port.onmessage = null;
    if (this.stream) for (const track of this.stream.getTracks()) track.stop();
    this.stream = this.source = this.node = null;
  }
}
