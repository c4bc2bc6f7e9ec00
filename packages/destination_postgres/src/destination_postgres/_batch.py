"""Batch staging on the client: records' original bytes become rows of COPY's binary format, per stream.

The client never parses a record: the SDK hands over the original bytes of its `data` (`RawRecord`), and per
record the client at most reads the primary key (msgspec, skipping everything else). A batch for a table that is
loaded with plain INSERTs (empty when the run began) does not even do that: its rows go out without keys
(`keyed=False`), the table's unique index finds repeats, and the server fills the keys in on the rare path
that needs them (measured: the key read was a fifth of the client's CPU per record). Rows go out in COPY's binary
format (`seq int8, deleted bool, pk text, raw text`): no escaping on the client, no delimiter scanning or
de-escaping on the server (measured: half the server's staging CPU of the text format).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import Any

import msgspec
import orjson
from sync_protocol import SourceStateMessage, StreamError

COPY_SIGNATURE = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
"""What a binary COPY starts with (no flags, no header extension)."""
COPY_TRAILER = struct.pack(">h", -1)
"""What a binary COPY ends with."""
_ROW_HEAD = struct.Struct(">hiqi?i").pack
"""4 fields; seq (8 bytes); deleted (1 byte); the length of pk (-1 = NULL)."""
_LENGTH = struct.Struct(">i").pack
_KEYLESS_HEAD = struct.Struct(">hiqi?ii").pack
"""A row without a key up to its raw field's length: 4 fields; seq; deleted; pk NULL; the length of raw."""
_NULL = msgspec.Raw(b"null")


def _nul_free(value: Any) -> Any:
    """`value` with NUL characters replaced by U+FFFD: PostgreSQL text and jsonb cannot hold NUL."""
    if isinstance(value, str):
        return value.replace("\x00", "\ufffd")
    if isinstance(value, dict):
        return {_nul_free(k): _nul_free(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_nul_free(v) for v in value]
    return value


@dataclass
class Batch:
    """Encoded rows of one stream waiting for COPY, plus the checkpoints that arrived among them.

    Rows after the last checkpoint are not covered by any: committing them and then crashing would make the
    source send them again (duplicates in `append`). `split_at_last_state` keeps them for the next batch.
    """

    keyed: bool = True
    """Rows carry their primary key (else `pk` is NULL and `keys`/`has_duplicates` say nothing)."""
    rows: bytearray = field(default_factory=bytearray)
    """Rows in COPY binary format, without the signature and trailer."""
    count: int = 0
    has_deletes: bool = False
    has_duplicates: bool = False
    keys: set[bytes] = field(default_factory=set)
    states: list[SourceStateMessage] = field(default_factory=list)
    covered_bytes: int = 0
    """Length of `rows` when the last state arrived."""
    covered_count: int = 0
    tail_keys: list[bytes] = field(default_factory=list)
    """Keys of the rows after the last state."""

    def add_state(self, state: SourceStateMessage) -> None:
        """A checkpoint: it covers every row before it."""
        self.states.append(state)
        self.covered_bytes = len(self.rows)
        self.covered_count = self.count
        self.tail_keys.clear()

    @property
    def uncovered(self) -> int:
        """Rows after the last checkpoint."""
        return self.count - self.covered_count

    def split_at_last_state(self) -> Batch:
        """Cut the rows after the last checkpoint off into a new batch (returned); this one keeps the rest."""
        tail = Batch(
            keyed=self.keyed,
            rows=bytearray(self.rows[self.covered_bytes :]),
            count=self.count - self.covered_count,
            has_deletes=self.has_deletes,
            keys=set(self.tail_keys),
            tail_keys=self.tail_keys,
        )
        del self.rows[self.covered_bytes :]
        self.count = self.covered_count
        self.tail_keys = []
        return tail


class RowEncoder:
    """Turns one record's data bytes into a staging row `(seq, deleted, pk-json, raw-json)`."""

    __slots__ = ("_decode_key", "_key_props", "_seq", "_single", "_stream")

    def __init__(self, stream: str, key_props: tuple[str, ...]) -> None:
        self._stream = stream
        self._key_props = key_props
        self._single = len(key_props) == 1
        self._seq = 0
        """Row order across batches (a batch's rows may move to the next one)."""
        fields = [(f"k{i}", msgspec.Raw, _NULL) for i in range(len(key_props))]
        key_type = msgspec.defstruct("Key", fields, rename={f"k{i}": p for i, p in enumerate(key_props)})
        self._decode_key = msgspec.json.Decoder(key_type).decode

    def _key(self, data: bytes) -> bytes:
        try:
            key = self._decode_key(data)
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise StreamError(f"stream {self._stream!r}: a record's data is not valid JSON: {exc}") from None
        if self._single:
            value = bytes(key.k0)  # type: ignore[attr-defined]
            if value[:1] == b'"' and b"\\" not in value:  # a plain string is its one spelling already
                return b"[" + value + b"]"
            pk = b"[" + value + b"]"
        else:
            pk = b"[" + b",".join([bytes(getattr(key, f"k{i}")) for i in range(len(self._key_props))]) + b"]"
        if b"null" in pk or b"\\" in pk or b" " in pk or b"\t" in pk or b"\n" in pk or b"\r" in pk:
            values = orjson.loads(pk)
            if None in values:
                raise StreamError(
                    f"stream {self._stream!r}: a record has no value for primary key {list(self._key_props)}",
                    stream=self._stream,
                )
            pk = orjson.dumps(_nul_free(values))  # one spelling per key, so duplicates are found
        return pk

    def add(self, batch: Batch, data: bytes, deleted: bool) -> None:
        """Append a record to `batch`; `StreamError` if it lacks a primary key value (keyed batches)."""
        seq = self._seq
        self._seq = seq + 1
        if b"\\" in data and b"\\u0000" in data:  # jsonb refuses NUL (a backslash is rare: one memchr first)
            data = orjson.dumps(_nul_free(orjson.loads(data)))
        if deleted:
            batch.has_deletes = True
        rows = batch.rows
        if batch.keyed and self._key_props:
            pk = self._key(data)
            keys = batch.keys
            if pk in keys:
                batch.has_duplicates = True
            else:
                keys.add(pk)
            batch.tail_keys.append(pk)
            rows += _ROW_HEAD(4, 8, seq, 1, deleted, len(pk))
            rows += pk
            rows += _LENGTH(len(data))
        else:
            rows += _KEYLESS_HEAD(4, 8, seq, 1, deleted, -1, len(data))
        rows += data
        batch.count += 1
