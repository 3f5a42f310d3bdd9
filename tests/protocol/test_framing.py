"""Tests for restate_trio._protocol.framing (protocol reference §2)."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import given, settings, strategies as st

from restate_trio._protocol import messages as m
from restate_trio._protocol.framing import (
    DEFAULT_MAX_MESSAGE_SIZE,
    HEADER_SIZE,
    REQUESTED_ACK,
    Frame,
    FrameDecoder,
    FramingError,
    encode_frame,
)

T = m.MessageType


# --------------------------------------------------------------------------- header layout


def test_header_start_82_bytes() -> None:
    data = encode_frame(T.START, b"x" * 82)
    assert data[:8] == bytes.fromhex("00 00 00 00 00 00 00 52")
    assert len(data) == 8 + 82


def test_header_input_173_bytes() -> None:
    data = encode_frame(T.INPUT_COMMAND, b"\0" * 173)
    assert data[:8] == bytes.fromhex("04 00 00 00 00 00 00 ad")


def test_header_propose_run_completion_with_requested_ack() -> None:
    data = encode_frame(T.PROPOSE_RUN_COMPLETION, b"1234567", flags=REQUESTED_ACK)
    assert data[:8] == bytes.fromhex("00 05 80 00 00 00 00 07")
    (frame,) = FrameDecoder().feed(data)
    assert frame == Frame(0x0005, 0x8000, b"1234567")
    assert frame.requested_ack


def test_header_end_message() -> None:
    type_id, payload = m.encode(m.EndMessage())
    data = encode_frame(type_id, payload)
    assert data == bytes.fromhex("00 03 00 00 00 00 00 00")
    (frame,) = FrameDecoder().feed(data)
    assert frame == Frame(0x0003, 0, b"")
    assert not frame.requested_ack


def test_header_is_one_big_endian_u64() -> None:
    data = encode_frame(0xFBFF, b"abc", flags=0x8123)
    (u64,) = struct.unpack(">Q", data[:8])
    assert u64 >> 48 == 0xFBFF
    assert (u64 >> 32) & 0xFFFF == 0x8123
    assert u64 & 0xFFFFFFFF == 3
    assert u64 & 0x0000_8000_0000_0000


def test_decode_captured_frames() -> None:
    # Captured on the wire (§3.3): SleepCompletion{1, void}, then a cancel signal.
    data = bytes.fromhex("800c000000000004 08012200") + bytes.fromhex("fbff000000000004 10012200")
    assert FrameDecoder().feed(data) == [
        Frame(0x800C, 0, bytes.fromhex("08012200")),
        Frame(0xFBFF, 0, bytes.fromhex("10012200")),
    ]


def test_reserved_flags_are_reported_but_not_an_ack() -> None:
    (frame,) = FrameDecoder().feed(encode_frame(0x0400, b"", flags=0x0001))
    assert frame.flags == 1
    assert not frame.requested_ack


# --------------------------------------------------------------------------- decoding


def test_round_trip_single_frame() -> None:
    payload = bytes(range(200))
    decoder = FrameDecoder()
    assert decoder.feed(encode_frame(0x0403, payload)) == [Frame(0x0403, 0, payload)]
    assert decoder.pending == 0


def test_zero_length_payloads() -> None:
    data = encode_frame(0x0003, b"") + encode_frame(0x0405, b"") + encode_frame(0x0003, b"")
    assert len(data) == 3 * HEADER_SIZE
    assert FrameDecoder().feed(data) == [
        Frame(0x0003, 0, b""),
        Frame(0x0405, 0, b""),
        Frame(0x0003, 0, b""),
    ]


def test_partial_header_and_payload_are_buffered() -> None:
    data = encode_frame(0x0401, b"hello")
    decoder = FrameDecoder()
    assert decoder.feed(data[:5]) == []
    assert decoder.pending == 5
    assert decoder.feed(data[5:10]) == []
    assert decoder.pending == 10
    assert decoder.feed(b"") == []
    assert decoder.feed(data[10:]) == [Frame(0x0401, 0, b"hello")]
    assert decoder.pending == 0


def test_payload_is_copied_out_of_the_buffer() -> None:
    decoder = FrameDecoder()
    (frame,) = decoder.feed(encode_frame(1, b"abc"))
    decoder.feed(encode_frame(2, b"xyz")[:9])
    assert frame.payload == b"abc"
    assert isinstance(frame.payload, bytes)


def test_frame_completed_by_later_chunk_followed_by_more() -> None:
    a = encode_frame(0x0400, b"A" * 10)
    b = encode_frame(0x0401, b"B" * 3)
    decoder = FrameDecoder()
    assert decoder.feed(a[:12]) == []
    assert decoder.feed(a[12:] + b + a[:3]) == [
        Frame(0x0400, 0, b"A" * 10),
        Frame(0x0401, 0, b"BBB"),
    ]
    assert decoder.pending == 3


# --------------------------------------------------------------------------- size limit


def test_oversized_message_rejected_from_header_alone() -> None:
    decoder = FrameDecoder(max_message_size=16)
    header = encode_frame(0x0400, b"x" * 17)[:HEADER_SIZE]
    assert decoder.feed(header[:7]) == []  # not a whole header yet
    with pytest.raises(FramingError):
        decoder.feed(header[7:])


def test_oversized_header_rejected_without_payload() -> None:
    # A declared length of 4 GiB - 1 with no payload: must fail at once, not wait for data.
    header = struct.pack(">Q", (0x0400 << 48) | 0xFFFFFFFF)
    with pytest.raises(FramingError):
        FrameDecoder().feed(header)


def test_message_at_the_limit_is_fine() -> None:
    decoder = FrameDecoder(max_message_size=16)
    assert decoder.feed(encode_frame(0x0400, b"y" * 16)) == [Frame(0x0400, 0, b"y" * 16)]


def test_default_limit_is_32_mib() -> None:
    assert DEFAULT_MAX_MESSAGE_SIZE == 32 * 1024 * 1024
    header = struct.pack(">Q", (0x0400 << 48) | (DEFAULT_MAX_MESSAGE_SIZE + 1))
    with pytest.raises(FramingError):
        FrameDecoder().feed(header)
    assert FrameDecoder().feed(struct.pack(">Q", (0x0400 << 48) | DEFAULT_MAX_MESSAGE_SIZE)) == []


def test_framing_error_is_a_value_error() -> None:
    assert issubclass(FramingError, ValueError)


# --------------------------------------------------------------------------- properties

frame_strategy = st.builds(
    Frame,
    st.integers(0, 0xFFFF),
    st.integers(0, 0xFFFF),
    st.binary(max_size=40),
)


@st.composite
def split(draw: st.DrawFn, data: bytes) -> list[bytes]:
    """Cut ``data`` at arbitrary points, possibly repeating a point (empty chunks)."""
    if draw(st.booleans()):  # one byte at a time, with a few empty chunks mixed in
        out = [data[i : i + 1] for i in range(len(data))]
        for pos in draw(st.lists(st.integers(0, len(out)), max_size=4)):
            out.insert(pos, b"")
        return out
    cuts = sorted(draw(st.lists(st.integers(0, len(data)), max_size=20)))
    bounds = [0, *cuts, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(bounds)]


@settings(max_examples=60, deadline=None)
@given(st.lists(frame_strategy, max_size=6), st.data())
def test_arbitrary_chunking_yields_the_same_frames(
    frames: list[Frame], data: st.DataObject
) -> None:
    encoded = b"".join(encode_frame(f.type, f.payload, flags=f.flags) for f in frames)
    assert len(encoded) == sum(HEADER_SIZE + len(f.payload) for f in frames)
    chunks = data.draw(split(encoded))
    assert b"".join(chunks) == encoded
    decoder = FrameDecoder()
    got: list[Frame] = []
    for chunk in chunks:
        got.extend(decoder.feed(chunk))
    assert got == frames
    assert decoder.pending == 0


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=300))
def test_encode_decode_round_trip(type_id: int, flags: int, payload: bytes) -> None:
    data = encode_frame(type_id, payload, flags=flags)
    assert len(data) == HEADER_SIZE + len(payload)
    assert FrameDecoder().feed(data) == [Frame(type_id, flags, payload)]
