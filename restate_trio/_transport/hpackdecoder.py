"""Decoding request header blocks (HPACK, RFC 7541) for the builtin HTTP/2 server.

Why not ``hpack.Decoder``: measured on the header block restate-server sends with every
invocation (eight fields; the path and the invocation id Huffman-coded each time), it took
40-60 µs, most of the layer's remaining cost per request: a ``logging.debug`` call and a
``HeaderTuple`` per field, and the path Huffman-decoded afresh every time. Here a field is a
few integer operations and a table lookup, Huffman strings are decoded a byte (not hpack's
half byte) per step, and those of literals that are not indexed (the path, as Restate's encoder
sends it) are remembered. hpack stays the source of what is data rather than logic: its static
table and its Huffman code.

Scope: decoding only (our responses use ``http2.header_block``), with the table size we
advertise (the default 4,096 bytes; the peer may shrink it with size updates at the start of a
block).
"""

from __future__ import annotations

from collections import deque

from hpack.huffman_constants import REQUEST_CODES, REQUEST_CODES_LENGTH
from hpack.table import HeaderTable

__all__ = ["HeaderDecodeError", "HeaderDecoder", "HeaderListTooLarge"]

_STATIC: tuple[tuple[bytes, bytes], ...] = HeaderTable.STATIC_TABLE
_FIRST_DYNAMIC = len(_STATIC) + 1  # indices are 1-based; the dynamic table follows the static
_ENTRY_OVERHEAD = 32  # RFC 7541 §4.1
# Integers beyond this are no header's index, length or table size (and bound the loop).
_MAX_INTEGER = 1 << 28
# Remembered Huffman strings: how many, and how long each may be.
_MEMO_ENTRIES = 64
_MEMO_LENGTH = 256


class HeaderDecodeError(Exception):
    """The block is not valid HPACK (a COMPRESSION_ERROR for the connection)."""


class HeaderListTooLarge(HeaderDecodeError):
    """The decoded header list exceeds the size we accept."""


class HeaderDecoder:
    """The decoding side of one connection's HPACK context."""

    def __init__(self, *, max_header_list_size: int, max_table_size: int = 4096) -> None:
        self._table: deque[tuple[bytes, bytes]] = deque()  # newest first
        self._size = 0
        self._allowed = max_table_size  # what we advertised: size updates may not exceed it
        self._max_size = max_table_size  # the encoder's current choice
        self._max_list = max_header_list_size
        self._memo: dict[bytes, bytes] = {}

    def decode(self, block: bytes) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        listed = 0
        pos = 0
        end = len(block)
        try:
            while pos < end:
                byte = block[pos]
                if byte & 0x80:  # indexed field (§6.1)
                    index = byte & 0x7F
                    pos += 1
                    if index == 0x7F:
                        index, pos = self._integer(block, pos, index)
                    header = self._entry(index)
                elif byte & 0x40:  # literal with incremental indexing (§6.2.1)
                    header, pos = self._literal(block, pos, 0x3F, False)
                    self._add(header)
                elif byte & 0x20:  # dynamic table size update (§6.3)
                    if headers:
                        raise HeaderDecodeError("a table size update after a field")
                    size = byte & 0x1F
                    pos += 1
                    if size == 0x1F:
                        size, pos = self._integer(block, pos, size)
                    if size > self._allowed:
                        raise HeaderDecodeError(f"a table size of {size} over {self._allowed}")
                    self._max_size = size
                    self._evict()
                    continue
                else:  # literal without indexing, or never indexed (§6.2.2, §6.2.3)
                    header, pos = self._literal(block, pos, 0x0F, True)
                listed += len(header[0]) + len(header[1]) + _ENTRY_OVERHEAD
                if listed > self._max_list:
                    raise HeaderListTooLarge(f"a header list over {self._max_list} bytes")
                headers.append(header)
        except IndexError:
            raise HeaderDecodeError("a truncated header block") from None
        return headers

    def _literal(
        self, block: bytes, pos: int, mask: int, memo: bool
    ) -> tuple[tuple[bytes, bytes], int]:
        """A literal field whose name index has a ``mask``-wide prefix (0: a literal name)."""
        index = block[pos] & mask
        pos += 1
        if index == mask:
            index, pos = self._integer(block, pos, index)
        if index:
            name = self._entry(index)[0]
        else:
            name, pos = self._string(block, pos, memo)
        value, pos = self._string(block, pos, memo)
        return (name, value), pos

    @staticmethod
    def _integer(block: bytes, pos: int, value: int) -> tuple[int, int]:
        """The continuation bytes of an integer whose prefix was all ones (§5.1)."""
        shift = 0
        while True:
            byte = block[pos]
            pos += 1
            value += (byte & 0x7F) << shift
            if value > _MAX_INTEGER:
                raise HeaderDecodeError("an integer out of range")
            if not byte & 0x80:
                return value, pos
            shift += 7

    def _string(self, block: bytes, pos: int, memo: bool) -> tuple[bytes, int]:
        byte = block[pos]
        length = byte & 0x7F
        pos += 1
        if length == 0x7F:
            length, pos = self._integer(block, pos, length)
        stop = pos + length
        if stop > len(block):
            raise HeaderDecodeError("a string past the end of the block")
        raw = block[pos:stop]
        if not byte & 0x80:
            return raw, stop
        text = self._memo.get(raw) if memo else None
        if text is None:
            text = huffman_decode(raw)
            if memo and length <= _MEMO_LENGTH:
                if len(self._memo) >= _MEMO_ENTRIES:
                    del self._memo[next(iter(self._memo))]  # the oldest
                self._memo[raw] = text
        return text, stop

    def _entry(self, index: int) -> tuple[bytes, bytes]:
        if 0 < index < _FIRST_DYNAMIC:
            return _STATIC[index - 1]
        offset = index - _FIRST_DYNAMIC
        if index == 0 or offset >= len(self._table):
            raise HeaderDecodeError(f"no table entry {index}")
        return self._table[offset]

    def _add(self, header: tuple[bytes, bytes]) -> None:
        size = len(header[0]) + len(header[1]) + _ENTRY_OVERHEAD
        if size > self._max_size:
            # Larger than the table: it empties the table and is not added (§4.4).
            self._table.clear()
            self._size = 0
            return
        self._table.appendleft(header)
        self._size += size
        self._evict()

    def _evict(self) -> None:
        table = self._table
        while self._size > self._max_size:
            name, value = table.pop()
            self._size -= len(name) + len(value) + _ENTRY_OVERHEAD


# Huffman decoding (RFC 7541 §5.2, Appendix B) as a byte-wise automaton: a state is a node of
# the code's tree that is not a leaf (0, the root, .. 255), and each state's row says, for each
# input byte, the state after its 8 bits and the symbols completed on the way. Rows are built
# the first time a state is reached (a row costs ~2,000 steps; strings reach few states), so
# importing costs only the tree.
_EOS = 256
# The tree: node -> (child for bit 0, child for bit 1); a child >= 0 is a node, < 0 is the
# leaf of symbol ~child.
_TREE: list[list[int]] = [[0, 0]]
for _symbol, (_code, _length) in enumerate(zip(REQUEST_CODES, REQUEST_CODES_LENGTH, strict=True)):
    _node = 0
    for _shift in range(_length - 1, 0, -1):
        _bit = (_code >> _shift) & 1
        if not _TREE[_node][_bit]:
            _TREE.append([0, 0])
            _TREE[_node][_bit] = len(_TREE) - 1
        _node = _TREE[_node][_bit]
    _TREE[_node][_code & 1] = ~_symbol
# Where a string may end: within 7 bits of padding, all ones (a prefix of EOS's code), after the
# last symbol (§5.2).
_ACCEPTING = {0}
_node = 0
for _ in range(7):
    _node = _TREE[_node][1]
    _ACCEPTING.add(_node)
_Row = tuple[tuple[int, bytes | None], ...]
_ROWS: list[_Row | None] = [None] * len(_TREE)


def _row(state: int) -> _Row:
    row: list[tuple[int, bytes | None]] = []
    for byte in range(256):
        node = state
        out = bytearray()
        eos = False
        for shift in range(7, -1, -1):
            child = _TREE[node][(byte >> shift) & 1]
            if child >= 0:
                node = child
                continue
            if ~child == _EOS:
                eos = True  # EOS inside a string is an error (§5.2)
                break
            out.append(~child)
            node = 0
        row.append((node, None if eos else bytes(out)))
    built = _ROWS[state] = tuple(row)
    return built


def huffman_decode(data: bytes) -> bytes:
    """Decode a Huffman-coded string; :class:`HeaderDecodeError` if it is not one."""
    rows = _ROWS
    state = 0
    out: list[bytes] = []
    for byte in data:
        row = rows[state] or _row(state)
        state, emitted = row[byte]
        if emitted is None:
            raise HeaderDecodeError("EOS inside a Huffman string")
        if emitted:
            out.append(emitted)
    if state not in _ACCEPTING:
        raise HeaderDecodeError("a Huffman string with invalid padding")
    return b"".join(out)
