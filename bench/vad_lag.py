"""Where the server thinks an utterance ended, relative to where the client says it did.

The server's latency breakdown counts from its last voiced VAD frame: the last 32 ms
Silero frame scoring at or above the detector's end threshold (0.35 at the default
`vad_threshold` 0.5), stamped with the arrival time of the 20 ms message that completed
that frame. The client counts from the send time of its last non-silent 20 ms frame.
Replaying the same audio, at the same position in the stream (so on the same 32 ms frame
grid), through the same Silero model gives the difference in frames:

    vad_lag_ms = (message that completed the last voiced frame − last non-silent message) × 20

Positive: the server's clock starts later than the true end (Silero's hangover), so its
figures understate the time since the user stopped by that much.
"""

from __future__ import annotations

import numpy as np

from bench.client import FRAME, FRAME_MS
from parley.providers.vad.detector import END_THRESHOLD_OFFSET
from parley.providers.vad.silero import FRAME_SAMPLES, SileroVAD

END_THRESHOLD = 0.5 - END_THRESHOLD_OFFSET
_WARM_FRAMES = 16  # 0.5 s of silence before the utterance, as the open microphone sends


class VADLag:
    def __init__(self) -> None:
        self._vad = SileroVAD()
        self._vad.load()
        self._cache: dict[tuple[str, int], float | None] = {}

    def lag_ms(
        self, sentence: str, samples: np.ndarray, start_chunk: int, last_chunk: int
    ) -> float | None:
        if start_chunk < 0 or last_chunk < 0:
            return None
        s0 = start_chunk * FRAME
        key = (sentence, s0 % FRAME_SAMPLES)
        if key not in self._cache:
            self._cache[key] = self._last_voiced_offset(samples, s0)
        offset = self._cache[key]  # the server's last voiced sample, from s0
        if offset is None:
            return None
        server_chunk = (s0 + offset) // FRAME
        return float((server_chunk - last_chunk) * FRAME_MS)

    def _last_voiced_offset(self, samples: np.ndarray, s0: int) -> float | None:
        grid = (s0 // FRAME_SAMPLES) * FRAME_SAMPLES  # the server's frame holding s0
        lead = s0 - grid + _WARM_FRAMES * FRAME_SAMPLES
        audio = np.concatenate([np.zeros(lead, np.int16), samples, np.zeros(16000, np.int16)])
        stream = self._vad.stream()
        last = None
        for k in range(len(audio) // FRAME_SAMPLES):
            p = stream.probability(audio[k * FRAME_SAMPLES : (k + 1) * FRAME_SAMPLES])
            if p >= END_THRESHOLD:
                last = k
        if last is None:
            return None
        # last sample of the last voiced frame, counted from the utterance start
        return (last + 1) * FRAME_SAMPLES - 1 - lead
