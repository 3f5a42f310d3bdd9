"""Message framing: an 8-byte big-endian header, then a protobuf payload.

Header layout (one u64): bits 63..48 message type, bit 47 REQUESTED_ACK, bits 46..32 reserved
flags, bits 31..0 payload length.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

HEADER_SIZE = 8
REQUESTED_ACK = 0x8000
# Restate's own default message size limit is 32 MiB; a larger frame is almost certainly a
# corrupted or hostile stream, and buffering it would exhaust memory before we can say so.
DEFAULT_MAX_MESSAGE_SIZE = 32 * 1024 * 1024

_HEADER = struct.Struct(">Q")


class FramingError(ValueError):
    """The byte stream is not a valid sequence of frames."""


class Frame(NamedTuple):
    """One decoded frame: type id, flags word and raw payload."""

    # A NamedTuple, not a frozen dataclass: one is built per message received, and a frozen
    # dataclass's field assignments cost twice a tuple's construction (steps10 profile).
    type: int
    flags: int
    payload: bytes

    @property
    def requested_ack(self) -> bool:
        return bool(self.flags & REQUESTED_ACK)


def encode_frame(type_id: int, payload: bytes, *, flags: int = 0) -> bytes:
    """Encode one frame (header + payload)."""
    if not 0 <= type_id <= 0xFFFF or not 0 <= flags <= 0xFFFF:
        raise FramingError(f"type 0x{type_id:x} or flags 0x{flags:x} out of the u16 range")
    if len(payload) > 0xFFFFFFFF:
        raise FramingError(f"payload of {len(payload)} bytes does not fit a frame")
    return _HEADER.pack((type_id << 48) | (flags << 32) | len(payload)) + payload


class FrameDecoder:
    """Incremental frame decoder: feed arbitrary chunks, take whole frames.

    A frame whose declared length exceeds ``max_message_size`` raises :class:`FramingError`
    as soon as its header is seen, before any of its payload is buffered.
    """

    def __init__(self, max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE) -> None:
        self._buffer = bytearray()
        self._max = max_message_size

    def feed(self, data: bytes) -> list[Frame]:
        """Add ``data`` and return every frame it completes, in order."""
        buffer = self._buffer
        # Restate sends whole messages, so nothing is usually held from the last chunk: then
        # the frames are cut from ``data`` itself (a bytes slice is the payload, no copies
        # through the buffer), and only an incomplete tail is kept.
        chunk: bytes | bytearray
        if buffer:
            buffer += data
            chunk = buffer
        else:
            chunk = bytes(data)
        frames: list[Frame] = []
        offset = 0
        end = len(chunk)
        while end - offset >= HEADER_SIZE:
            (header,) = _HEADER.unpack_from(chunk, offset)
            length = header & 0xFFFFFFFF
            if length > self._max:
                raise FramingError(
                    f"message of type 0x{header >> 48:04x} declares {length} bytes, "
                    f"more than the limit of {self._max}"
                )
            start = offset + HEADER_SIZE
            if end - start < length:
                break
            payload = chunk[start : start + length]
            frames.append(
                Frame(
                    header >> 48,
                    (header >> 32) & 0xFFFF,
                    payload if isinstance(payload, bytes) else bytes(payload),
                )
            )
            offset = start + length
        if chunk is buffer:
            if offset:
                del buffer[:offset]
        elif offset < end:
            buffer += chunk[offset:]
        return frames

    @property
    def pending(self) -> int:
        """Bytes buffered that do not yet form a whole frame."""
        return len(self._buffer)
