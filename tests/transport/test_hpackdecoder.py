"""The builtin server's HPACK decoder against hpack's own, and on malformed blocks.

hpack's Encoder produces every representation (indexed, literals with and without indexing,
never indexed, Huffman or not, table size updates, evictions); hpack's Decoder is the reference
that ours must agree with on every block, field by field and table entry by table entry.
"""

from __future__ import annotations

import random

import hpack
import hpack.exceptions
import pytest
from hpack.huffman import HuffmanEncoder
from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.huffman_table import decode_huffman

from restate_trio._transport.hpackdecoder import (
    HeaderDecodeError,
    HeaderDecoder,
    HeaderListTooLarge,
    huffman_decode,
)

_NAMES = [
    b":path",
    b":authority",
    b"content-type",
    b"accept",
    b"x-restate-invocation-id",
    b"x-custom",
    b"cookie",
    b"traceparent",
    b"x-" + b"n" * 40,
]


def _random_headers(rng: random.Random) -> list[tuple[bytes, bytes, bool]]:
    headers = [(b":method", b"POST", False), (b":scheme", rng.choice([b"http", b"https"]), False)]
    for _ in range(rng.randrange(0, 12)):
        name = rng.choice(_NAMES)
        if rng.random() < 0.2:
            name = b"x-%d" % rng.randrange(1000)
        size = rng.choice([0, 1, 5, 30, 130, 300])
        value = bytes(rng.choice(b"abcXYZ019/_-.~ %\x7f\xff") for _ in range(size))
        headers.append((name, value, rng.random() < 0.15))
    return headers


@pytest.mark.parametrize("seed", range(8))
def test_it_decodes_what_hpack_encodes_as_hpack_decodes_it(seed: int) -> None:
    rng = random.Random(seed)
    encoder = hpack.Encoder()
    reference = hpack.Decoder(max_header_list_size=1 << 20)
    ours = HeaderDecoder(max_header_list_size=1 << 20)
    for _ in range(300):
        if rng.random() < 0.05:
            # The encoder shrinks (or restores) its table: a size update leads the next block.
            encoder.header_table_size = rng.choice([0, 100, 1024, 4096])
        headers = _random_headers(rng)
        block = encoder.encode(
            [
                hpack.NeverIndexedHeaderTuple(n, v) if sensitive else (n, v)
                for n, v, sensitive in headers
            ],
            huffman=rng.random() < 0.7,
        )
        expected = [(bytes(n), bytes(v)) for n, v in reference.decode(block, raw=True)]
        assert expected == [(n, v) for n, v, _ in headers]
        assert ours.decode(block) == expected
        assert list(ours._table) == list(reference.header_table.dynamic_entries)
        assert ours._size == reference.header_table._current_size


def test_a_repeated_huffman_literal_is_decoded_once() -> None:
    encoder = hpack.Encoder()
    block = encoder.encode([hpack.NeverIndexedHeaderTuple(b":path", b"/invoke/Greeter/greet")])
    decoder = HeaderDecoder(max_header_list_size=1 << 16)
    assert decoder.decode(block) == [(b":path", b"/invoke/Greeter/greet")]
    assert list(decoder._memo.values()) == [b"/invoke/Greeter/greet"]
    assert decoder.decode(block) == [(b":path", b"/invoke/Greeter/greet")]
    assert len(decoder._memo) == 1


@pytest.mark.parametrize(
    "block",
    [
        pytest.param(b"\x80", id="index 0"),
        pytest.param(b"\xbe", id="an index past the static table, empty dynamic table"),
        pytest.param(b"\xff\xff\xff\xff\xff\xff\x01", id="an integer out of range"),
        pytest.param(b"\xff", id="a truncated integer"),
        pytest.param(b"\x04\x05ab", id="a string past the end"),
        pytest.param(b"\x40\x03ab", id="a truncated literal name"),
        pytest.param(b"\x3f\xe2\x1f", id="a table size over the advertised 4096"),
        pytest.param(b"\x82\x20", id="a table size update after a field"),
        pytest.param(b"\x04\x81\x00", id="Huffman padding of zeros"),
        pytest.param(b"\x04\x84\xff\xff\xff\xff", id="Huffman EOS inside a string"),
    ],
)
def test_malformed_blocks_are_refused(block: bytes) -> None:
    with pytest.raises(HeaderDecodeError):
        HeaderDecoder(max_header_list_size=1 << 16).decode(block)


def test_a_header_list_over_the_limit_is_refused() -> None:
    block = hpack.Encoder().encode([(b"x-big", b"v" * 200)])
    assert HeaderDecoder(max_header_list_size=237).decode(block) == [(b"x-big", b"v" * 200)]
    with pytest.raises(HeaderListTooLarge):
        HeaderDecoder(max_header_list_size=236).decode(block)


def test_an_entry_larger_than_the_table_empties_it() -> None:
    encoder = hpack.Encoder()
    decoder = HeaderDecoder(max_header_list_size=1 << 16)
    decoder.decode(encoder.encode([(b"x-a", b"1")]))
    assert decoder._size == 3 + 1 + 32
    decoder.decode(encoder.encode([(b"x-b", b"v" * 5000)]))
    assert not decoder._table
    assert decoder._size == 0


def test_huffman_strings_round_trip_through_hpacks_encoder() -> None:
    encoder = HuffmanEncoder(REQUEST_CODES, REQUEST_CODES_LENGTH)
    rng = random.Random(3)
    for _ in range(3000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 40)))
        assert huffman_decode(encoder.encode(data)) == data


def test_huffman_decoding_accepts_and_refuses_what_hpack_does() -> None:
    # Short random strings hit every end state: padding longer than 7 bits, padding that is not
    # all ones, EOS inside the string, and every valid ending.
    rng = random.Random(4)
    refused = 0
    for _ in range(20_000):
        data = bytes(rng.randrange(256) for _ in range(rng.randrange(0, 5)))
        try:
            expected: bytes | None = decode_huffman(data)
        except hpack.exceptions.HPACKDecodingError:
            expected = None
        try:
            ours: bytes | None = huffman_decode(data)
        except HeaderDecodeError:
            ours = None
        assert ours == expected, data.hex()
        refused += expected is None
    assert 0 < refused < 20_000
