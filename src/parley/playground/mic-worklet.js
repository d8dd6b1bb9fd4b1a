// AudioWorklet (runs on the audio thread): microphone → 16 kHz pcm16 little-endian frames.
//
// The context runs at the device rate (44.1 or 48 kHz, usually). Each 128-sample block is
// low-passed below the target Nyquist (two cascaded biquads: a 4th-order Butterworth at
// 0.45 × target rate), then sampled at the target rate by linear interpolation, and cut
// into 20 ms frames (320 samples at 16 kHz) that are posted to the page as ArrayBuffers.
// Every ~100 ms the page also gets the input level, for the meter.

const Q1 = 0.5412; // the two stages of a 4th-order Butterworth low-pass
const Q2 = 1.3066;

/** RBJ cookbook low-pass biquad, transposed direct form II. */
class Biquad {
  constructor(rate, cutoff, q) {
    const w = (2 * Math.PI * cutoff) / rate;
    const alpha = Math.sin(w) / (2 * q);
    const cos = Math.cos(w);
    const a0 = 1 + alpha;
    this.b0 = (1 - cos) / 2 / a0;
    this.b1 = (1 - cos) / a0;
    this.b2 = this.b0;
    this.a1 = (-2 * cos) / a0;
    this.a2 = (1 - alpha) / a0;
    this.z1 = 0;
    this.z2 = 0;
  }

  step(x) {
    const y = this.b0 * x + this.z1;
    this.z1 = this.b1 * x - this.a1 * y + this.z2;
    this.z2 = this.b2 * x - this.a2 * y;
    return y;
  }
}

class MicProcessor extends AudioWorkletProcessor {
  constructor(options) {
    super();
    const opts = options.processorOptions || {};
    this.outRate = opts.targetRate || 16000;
    this.frameSamples = Math.round((this.outRate * (opts.frameMs || 20)) / 1000);
    this.step = sampleRate / this.outRate; // input samples per output sample
    const needsFilter = this.step > 1.0001;
    const cutoff = 0.45 * this.outRate;
    this.filters = needsFilter
      ? [new Biquad(sampleRate, cutoff, Q1), new Biquad(sampleRate, cutoff, Q2)]
      : [];
    this.pos = 0; // position of the next output sample, in input samples from `prev`
    this.prev = 0; // last filtered input sample of the previous block
    this.frame = new Int16Array(this.frameSamples);
    this.fill = 0;
    this.levelSum = 0;
    this.levelCount = 0;
  }

  process(inputs) {
    const channels = inputs[0];
    if (!channels || channels.length === 0) return true; // no input yet: keep running
    const input = channels[0];
    const n = input.length;
    // Filtered block, with the previous block's last sample in front (index 0).
    const x = new Float32Array(n + 1);
    x[0] = this.prev;
    for (let i = 0; i < n; i++) {
      let v = input[i];
      for (const f of this.filters) v = f.step(v);
      x[i + 1] = v;
      this.levelSum += v * v;
    }
    this.levelCount += n;
    this.prev = x[n];
    let pos = this.pos;
    while (pos < n) {
      // x[i + 1] exists for every i = floor(pos) < n
      const i = Math.floor(pos);
      const frac = pos - i;
      const s = x[i] + (x[i + 1] - x[i]) * frac;
      this.push(s);
      pos += this.step;
    }
    this.pos = pos - n;
    if (this.levelCount >= sampleRate / 10) {
      this.port.postMessage({ level: Math.sqrt(this.levelSum / this.levelCount) });
      this.levelSum = 0;
      this.levelCount = 0;
    }
    return true;
  }

  push(sample) {
    const clipped = Math.max(-1, Math.min(1, sample));
    this.frame[this.fill++] = clipped < 0 ? clipped * 0x8000 : clipped * 0x7fff;
    if (this.fill === this.frameSamples) {
      // Int16Array is in platform byte order; every browser platform is little-endian,
      // but build the bytes explicitly so the wire format never depends on it.
      const bytes = new ArrayBuffer(this.frameSamples * 2);
      const view = new DataView(bytes);
      for (let i = 0; i < this.frameSamples; i++) view.setInt16(i * 2, this.frame[i], true);
      this.port.postMessage({ frame: bytes }, [bytes]);
      this.fill = 0;
    }
  }
}

registerProcessor("parley-mic", MicProcessor);
