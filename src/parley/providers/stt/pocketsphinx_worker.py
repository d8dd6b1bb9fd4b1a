"""The pocketsphinx worker process: many decoders, one per stream, behind a pipe.

Started by `PocketsphinxSTT` as `python -m parley.providers.stt.pocketsphinx_worker
<options json>`; speaks the protocol of `pocketsphinx_pipe.py` on stdin/stdout.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
from dataclasses import dataclass
from typing import Any

from parley import heap
from parley.providers.stt import pocketsphinx_pipe as pipe

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DecoderOptions:
    """What a worker needs to build decoders. Paths default to the wheel's en-us model."""

    hmm: str | None = None
    lm: str | None = None
    dictionary: str | None = None
    second_pass: bool = False
    spare_decoders: int = 1  # fresh decoders kept ready per worker


# ---------------------------------------------------------------- worker process side


@dataclass
class _Slot:
    decoder: Any
    utterance: int | None = None  # number of the utterance in progress
    partial: str = ""


class _DecoderHost:
    """The decoders of one worker process, keyed by stream id.

    Every stream gets a fresh decoder (built ahead of time while the worker is idle):
    a recycled one would carry the last speaker's acoustic state (cepstral mean,
    Gaussian selection history) and make results depend on who used it before.
    """

    def __init__(self, options: DecoderOptions) -> None:
        import pocketsphinx

        self._ps = pocketsphinx
        self._options = options
        self._slots: dict[int, _Slot] = {}
        first = self._decoder_without_lm()
        lm_path = options.lm or pocketsphinx.get_model_path("en-us/en-us.lm.bin")
        self._lm = pocketsphinx.NGramModel(first.config, first.logmath, lm_path)
        self._spares: list[Any] = [self._with_lm(first)]

    def _decoder_without_lm(self) -> Any:
        o = self._options
        kwargs: dict[str, Any] = {"lm": None, "loglevel": "ERROR", "fwdflat": o.second_pass}
        if o.hmm:
            kwargs["hmm"] = o.hmm
        if o.dictionary:
            kwargs["dict"] = o.dictionary
        return self._ps.Decoder(self._ps.Config(**kwargs))

    def _with_lm(self, decoder: Any) -> Any:
        decoder.add_lm("lm", self._lm)  # one language model in memory, shared
        decoder.activate_search("lm")
        return decoder

    def wants_spare(self) -> bool:
        return len(self._spares) < self._options.spare_decoders

    def make_spare(self) -> None:
        self._spares.append(self._with_lm(self._decoder_without_lm()))

    def open(self, sid: int) -> None:
        self.close(sid)
        decoder = self._spares.pop() if self._spares else None
        self._slots[sid] = _Slot(decoder or self._with_lm(self._decoder_without_lm()))

    def audio(self, sid: int, utterance: int, pcm: bytes) -> str | None:
        """Decode a batch; the new partial transcript if it changed."""
        slot = self._slots[sid]
        if slot.utterance != utterance:
            if slot.utterance is not None:
                slot.decoder.end_utt()
            slot.decoder.start_utt()
            slot.utterance, slot.partial = utterance, ""
        slot.decoder.process_raw(pcm, False, False)
        hyp = slot.decoder.hyp()
        text = hyp.hypstr if hyp is not None else ""
        if text == slot.partial:
            return None
        slot.partial = text
        return text

    def finish(self, sid: int, utterance: int) -> str:
        slot = self._slots[sid]
        if slot.utterance != utterance:
            return ""
        slot.utterance = None
        slot.decoder.end_utt()
        hyp = slot.decoder.hyp()
        return hyp.hypstr if hyp is not None else ""

    def cancel(self, sid: int) -> None:
        slot = self._slots.get(sid)
        if slot is not None and slot.utterance is not None:
            slot.utterance = None
            slot.decoder.end_utt()

    def close(self, sid: int) -> None:
        self.cancel(sid)
        if self._slots.pop(sid, None) is not None:
            _release_memory()


def _release_memory() -> None:
    """Give freed decoder memory back to the system. Measured (bench/README.md): 20
    recognisers opened and closed left a worker at 1018 MB; after malloc_trim, 74 MB."""
    heap.trim()


def _worker_main(options_json: str) -> int:
    """Serve decode requests on stdin/stdout until stdin closes."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the server shuts us down via stdin
    out_fd = os.dup(1)
    os.dup2(2, 1)  # stray prints from libraries must not corrupt the protocol pipe

    def send(op: int, sid: int = 0, utterance: int = 0, payload: bytes = b"") -> None:
        pipe.write_all(out_fd, pipe.encode(op, sid, utterance, payload))

    host = _DecoderHost(DecoderOptions(**json.loads(options_json)))
    reader = pipe.FdReader(0)
    send(pipe.READY)
    while True:
        if host.wants_spare() and not reader.pending():
            host.make_spare()  # while idle, so the next open() is instant
            continue
        msg = reader.message()
        if msg is None:
            return 0
        op, sid, utt = msg.op, msg.sid, msg.utterance
        try:
            if op == pipe.AUDIO:
                text = host.audio(sid, utt, msg.payload)
                if text is not None:
                    send(pipe.PARTIAL, sid, utt, text.encode())
            elif op == pipe.FINISH:
                send(pipe.FINAL, sid, utt, host.finish(sid, utt).encode())
            elif op == pipe.OPEN:
                host.open(sid)
            elif op == pipe.CANCEL:
                host.cancel(sid)
            elif op == pipe.CLOSE:
                host.close(sid)
        except Exception as exc:  # a decoder error ends that utterance, not the worker
            host.cancel(sid)
            send(pipe.ERROR, sid, utt, f"{type(exc).__name__}: {exc}".encode())


if __name__ == "__main__":
    raise SystemExit(_worker_main(sys.argv[1]))
