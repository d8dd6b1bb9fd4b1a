// The playground's Player on a fake AudioContext whose clock the test moves.
import assert from "node:assert/strict";
import test from "node:test";

import { Player } from "../../src/parley/playground/player.js";

class FakeContext {
  constructor() {
    this.currentTime = 0;
    this.destination = {};
    this.started = []; // [{when, offset, duration}]
  }
  createBuffer(_channels, n, rate) {
    const data = new Float32Array(n);
    return { duration: n / rate, getChannelData: () => data };
  }
  createBufferSource() {
    const ctx = this;
    return {
      connect() {},
      disconnect() {},
      start(when, offset = 0) {
        this.startedAt = { when, offset, duration: this.buffer.duration - offset };
        ctx.started.push(this.startedAt);
      },
      stop() {
        this.startedAt.stopped = ctx.currentTime;
      },
    };
  }
}

const chunk = (ms, rate = 16000) => new ArrayBuffer(((rate * ms) / 1000) * 2);

test("pause holds playback where it is and resume plays on from there", () => {
  const ctx = new FakeContext();
  const player = new Player(ctx, 16000);
  player.enqueue(chunk(100));
  player.enqueue(chunk(100));
  const first = ctx.started[0].when;
  ctx.currentTime = first + 0.05; // 50 ms into the first chunk
  player.pause();
  assert.equal(ctx.started.every((s) => s.stopped !== undefined), true);
  player.enqueue(chunk(100)); // arrives while paused: held, not played
  assert.equal(ctx.started.length, 2);
  ctx.currentTime += 1.0;
  player.resume();
  const again = ctx.started.slice(2);
  assert.equal(again.length, 3);
  assert.ok(Math.abs(again[0].offset - 0.05) < 1e-9); // the rest of the first chunk
  assert.equal(again[1].offset, 0);
  // back to back, in order, from now on
  assert.ok(again[0].when >= ctx.currentTime);
  assert.ok(Math.abs(again[1].when - (again[0].when + again[0].duration)) < 1e-9);
  assert.ok(Math.abs(again[2].when - (again[1].when + again[1].duration)) < 1e-9);
});

test("flush while paused drops what was held", () => {
  const ctx = new FakeContext();
  const player = new Player(ctx, 16000);
  player.enqueue(chunk(200));
  ctx.currentTime = ctx.started[0].when + 0.05;
  player.pause();
  const dropped = player.flush();
  assert.ok(Math.abs(dropped - 150) < 1e-6);
  player.resume(); // nothing to resume
  assert.equal(ctx.started.length, 1);
});
