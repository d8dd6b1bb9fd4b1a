"""Codecs: round trips on real speech at every stream rate, and bad client input."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from parley.audio.codecs import (
    ENCODINGS,
    SAMPLE_RATES,
    AlawCodec,
    CodecError,
    MulawCodec,
    OpusCodec,
    Pcm16Codec,
    make_codec,
)
from parley.audio.resample import resample
from tests.speech import speak

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop  # reference G.711 implementation; removed in 3.13, present in 3.11

TEXT = "Could you book a table for two at seven tonight, please?"
OTHER_TEXT = "The weather tomorrow looks sunny with a light breeze."


def best_alignment_ncc(reference: np.ndarray, decoded: np.ndarray, max_lag: int) -> float:
    """Normalised cross-correlation of `decoded` against `reference`, at the best delay."""
    n = min(len(reference), len(decoded) - max_lag)
    a = reference[:n].astype(np.float64)
    d = decoded[: n + max_lag].astype(np.float64)
    size = 1 << (len(a) + len(d)).bit_length()
    dots = np.fft.irfft(np.fft.rfft(d, size) * np.conj(np.fft.rfft(a, size)), size)[: max_lag + 1]
    energy = np.concatenate(([0.0], np.cumsum(d**2)))
    window = energy[n : n + max_lag + 1] - energy[: max_lag + 1]  # sum of d[lag : lag + n] ** 2
    return float(np.max(dots / np.sqrt((a @ a) * window + 1e-9)))


def chunks(samples: np.ndarray, size: int) -> list[np.ndarray]:
    return [samples[i : i + size] for i in range(0, len(samples), size)]


# --- make_codec ------------------------------------------------------------------------


@pytest.mark.parametrize("encoding", ENCODINGS)
@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_make_codec_every_format(encoding: str, rate: int) -> None:
    codec = make_codec(encoding, rate)
    assert (codec.encoding, codec.sample_rate) == (encoding, rate)


@pytest.mark.parametrize(
    ("encoding", "rate"),
    [("flac", 16000), ("PCM16", 16000), ("opus", 44100), ("pcm16", 12000), ("mulaw", 16000.0)],
)
def test_make_codec_rejects_unsupported_formats(encoding: str, rate: int) -> None:
    with pytest.raises(CodecError, match="unsupported"):
        make_codec(encoding, rate)


@pytest.mark.parametrize("encoding", ENCODINGS)
def test_encode_rejects_non_int16_samples(encoding: str) -> None:
    codec = make_codec(encoding, 16000)
    with pytest.raises(CodecError, match="int16"):
        codec.encode(np.zeros(320, dtype=np.float32))
    with pytest.raises(CodecError, match="int16"):
        codec.encode(np.zeros((2, 320), dtype=np.int16))


# --- pcm16 ---------------------------------------------------------------------------


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_pcm16_round_trip_is_exact(rate: int) -> None:
    speech = speak(TEXT, rate=rate)
    codec = Pcm16Codec(rate)
    messages = [m for chunk in chunks(speech, 333) for m in codec.encode(chunk)] + codec.flush()
    decoded = np.concatenate([codec.decode(m) for m in messages])
    assert decoded.dtype == np.int16
    np.testing.assert_array_equal(decoded, speech)


def test_pcm16_is_little_endian() -> None:
    codec = Pcm16Codec(16000)
    assert codec.encode(np.array([1, -2, 0x1234], dtype=np.int16)) == [b"\x01\x00\xfe\xff\x34\x12"]
    np.testing.assert_array_equal(codec.decode(b"\x01\x00\xfe\xff"), [1, -2])


def test_pcm16_empty_input() -> None:
    codec = Pcm16Codec(16000)
    assert codec.encode(np.zeros(0, dtype=np.int16)) == []
    assert codec.decode(b"").size == 0


def test_pcm16_odd_byte_count_is_rejected_and_codec_keeps_working() -> None:
    codec = Pcm16Codec(16000)
    speech = speak(TEXT)[:320]
    with pytest.raises(CodecError, match="odd number of bytes"):
        codec.decode(speech.tobytes()[:-1])
    np.testing.assert_array_equal(codec.decode(speech.tobytes()), speech)


def test_decoded_samples_are_writable() -> None:
    for codec in (Pcm16Codec(16000), MulawCodec(16000)):
        decoded = codec.decode(b"\x01\x02\x03\x04")
        decoded[0] = 7  # no "assignment destination is read-only"


# --- mu-law --------------------------------------------------------------------------


def test_mulaw_tables_match_audioop_exhaustively() -> None:
    codec = MulawCodec(8000)
    every_sample = np.arange(-32768, 32768, dtype=np.int16)
    assert codec.encode(every_sample) == [audioop.lin2ulaw(every_sample.tobytes(), 2)]
    every_byte = bytes(range(256))
    expected = np.frombuffer(audioop.ulaw2lin(every_byte, 2), dtype=np.int16)
    np.testing.assert_array_equal(codec.decode(every_byte), expected)


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_mulaw_round_trip_matches_audioop(rate: int) -> None:
    speech = speak(TEXT, rate=rate)
    codec = MulawCodec(rate)
    messages = [m for chunk in chunks(speech, 160) for m in codec.encode(chunk)] + codec.flush()
    wire = b"".join(messages)
    assert wire == audioop.lin2ulaw(speech.tobytes(), 2)
    decoded = np.concatenate([codec.decode(m) for m in messages])
    np.testing.assert_array_equal(decoded, np.frombuffer(audioop.ulaw2lin(wire, 2), np.int16))
    # and it is still the same speech: G.711 keeps ~38 dB SNR on voice
    noise = decoded.astype(np.float64) - speech
    snr = 10 * np.log10(np.sum(speech.astype(np.float64) ** 2) / np.sum(noise**2))
    assert snr > 30


# --- A-law ---------------------------------------------------------------------------


def test_alaw_tables_match_audioop_exhaustively() -> None:
    codec = make_codec("alaw", 8000)
    every_sample = np.arange(-32768, 32768, dtype=np.int16)
    assert codec.encode(every_sample) == [audioop.lin2alaw(every_sample.tobytes(), 2)]
    every_byte = bytes(range(256))
    expected = np.frombuffer(audioop.alaw2lin(every_byte, 2), dtype=np.int16)
    np.testing.assert_array_equal(codec.decode(every_byte), expected)
    # two fixed points of G.711 A-law, from the standard: 0xD5 is +8, 0x55 is -8
    assert codec.decode(b"\xd5\x55").tolist() == [8, -8]


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_alaw_round_trip_on_speech(rate: int) -> None:
    speech = speak(TEXT, rate=rate)
    codec = AlawCodec(rate)
    messages = [m for chunk in chunks(speech, 160) for m in codec.encode(chunk)] + codec.flush()
    wire = b"".join(messages)
    assert len(wire) == len(speech) and wire == audioop.lin2alaw(speech.tobytes(), 2)
    decoded = np.concatenate([codec.decode(m) for m in messages])
    noise = decoded.astype(np.float64) - speech
    snr = 10 * np.log10(np.sum(speech.astype(np.float64) ** 2) / np.sum(noise**2))
    assert snr > 30


# --- opus ----------------------------------------------------------------------------


def opus_frame_ms(packet: bytes) -> float:
    """Duration of one frame, from the TOC byte (RFC 6716, section 3.1)."""
    config = packet[0] >> 3
    if config < 12:  # SILK
        return (10, 20, 40, 60)[config % 4]
    if config < 16:  # hybrid
        return (10, 20)[config % 2]
    return (2.5, 5, 10, 20)[config % 4]  # CELT


@pytest.mark.parametrize("rate", SAMPLE_RATES)
def test_opus_round_trip_keeps_the_speech(rate: int) -> None:
    speech = speak(TEXT, rate=rate)
    codec = OpusCodec(rate)
    frame = rate // 50
    # uneven chunks: encoding must carry partial frames across calls
    packets = [p for chunk in chunks(speech, frame * 7 // 3) for p in codec.encode(chunk)]
    packets += codec.flush()
    assert len(packets) == -(-len(speech) // frame)  # one packet per 20 ms, last one padded
    for packet in packets:
        toc = packet[0]
        assert (toc & 0x3, toc >> 2 & 1, opus_frame_ms(packet)) == (0, 0, 20)  # 1 frame, mono

    decoded = [codec.decode(p) for p in packets]
    assert all(d.dtype == np.int16 and d.ndim == 1 for d in decoded)
    assert abs(sum(map(len, decoded)) - len(packets) * frame) <= frame
    output = np.concatenate(decoded)
    assert best_alignment_ncc(speech, output, max_lag=frame) > 0.9
    # the bound means something: other speech does not reach it
    other = speak(OTHER_TEXT, rate=rate)
    assert best_alignment_ncc(other, output, max_lag=frame) < 0.5


def test_opus_packets_decode_at_another_stream_rate() -> None:
    """Opus packets carry no sample rate; a 48 kHz encoding decodes fine at 16 kHz."""
    speech = speak(TEXT, rate=48000)
    encoder, decoder = OpusCodec(48000), OpusCodec(16000)
    packets = encoder.encode(speech) + encoder.flush()
    output = np.concatenate([decoder.decode(p) for p in packets])
    # (resampled, not speak(rate=16000): espeak-ng does not say a text the same way twice)
    assert best_alignment_ncc(resample(speech, 48000, 16000), output, max_lag=320) > 0.9


def test_opus_flush_pads_and_empties() -> None:
    codec = OpusCodec(16000)
    [first] = codec.encode(speak(TEXT)[:500])  # one full frame out, 180 samples held
    [padded] = codec.flush()
    assert codec.flush() == []
    assert codec.encode(np.zeros(0, dtype=np.int16)) == []
    decoded = [codec.decode(first), codec.decode(padded)]
    # the decoder's resampler holds back 16 samples at the very start, then 20 ms per packet
    assert [len(d) for d in decoded] == [320 - 16, 320]


@pytest.mark.parametrize(
    "bad",
    [b"", b"\xff", b"\x03", b"\x03\x00", b"\xff\xff\xff", bytes(2000), b"\x0b" + bytes(1500)],
    ids=[
        "empty",
        "code3-no-count",
        "code3-short",
        "code3-zero-frames",
        "truncated",
        "huge",
        "oversize-frame",
    ],
)
def test_opus_corrupt_packet_raises_and_decoder_recovers(bad: bytes) -> None:
    speech = speak(TEXT, rate=16000)
    encoder, decoder = OpusCodec(16000), OpusCodec(16000)
    packets = encoder.encode(speech) + encoder.flush()
    half = len(packets) // 2
    output = [decoder.decode(p) for p in packets[:half]]
    with pytest.raises(CodecError, match="Opus packet"):
        decoder.decode(bad)
    output += [decoder.decode(p) for p in packets[half:]]
    assert all(len(d) == 320 for d in output[half:])
    assert best_alignment_ncc(speech, np.concatenate(output), max_lag=320) > 0.9
