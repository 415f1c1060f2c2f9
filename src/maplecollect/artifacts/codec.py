"""Chunk codecs: zstd (default) and gzip behind one small interface, chosen by name.

Both compressors release the GIL, so the writer runs them in worker threads.
zstd-1 is ~4x cheaper than gzip-1 and compresses better (PERF-NOTES.md).
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol, cast

import zstandard

from maplecollect.errors import ConfigError


class Compressor(Protocol):
    """Streaming compressor of one file: feed blocks, then `finish()` once."""

    def compress(self, data: bytes) -> bytes: ...

    def finish(self) -> bytes: ...


class _Decompressor(Protocol):
    """zlib's and zstandard's decompressobj: both expose eof and unused_data."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    def decompress(self, data: bytes) -> bytes: ...


class _Zstd:
    def __init__(self, level: int) -> None:
        # One standard frame with a content checksum: `zstd -d` and DuckDB read it.
        # An 8 MB window (the most the format recommends decoders accept) reaches back
        # across ~80 item-equipment records, whose long repeats make zstd both faster and
        # smaller; for the fast levels, min_match 7 skips the short matches
        # (docs/performance.md). Slower levels keep their own search parameters.
        fast = {"hash_log": 15, "min_match": 7} if level <= 1 else {}
        params = zstandard.ZstdCompressionParameters.from_level(
            level, write_checksum=1, window_log=23, **fast
        )
        self._obj = zstandard.ZstdCompressor(compression_params=params).compressobj()

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush()


class _Gzip:
    def __init__(self, level: int) -> None:
        # wbits=31: a gzip member (header + CRC32), what `gzip -d` and DuckDB expect.
        self._obj = zlib.compressobj(level, zlib.DEFLATED, 31)

    def compress(self, data: bytes) -> bytes:
        return self._obj.compress(data)

    def finish(self) -> bytes:
        return self._obj.flush()


@dataclass(frozen=True, slots=True)
class Codec:
    name: str
    extension: str
    level: int

    def compressor(self) -> Compressor:
        return _Zstd(self.level) if self.name == "zstd" else _Gzip(self.level)

    def decompress(self, raw: BinaryIO, block: int = 256 * 1024) -> Iterator[bytes]:
        """The decompressed bytes of `raw`, piece by piece (memory: one block's output).

        Every frame (zstd) or member (gzip) must be complete: a truncated file
        raises EOFError, corrupt data the library's error (see DECOMPRESS_ERRORS).
        """
        obj = self._decompressobj()
        frames, in_frame = 0, False
        while data := raw.read(block):
            while data:
                out = obj.decompress(data)
                if out:
                    yield out
                if obj.eof:  # a frame ended; the rest of `data` starts the next one
                    frames, in_frame = frames + 1, False
                    data, obj = obj.unused_data, self._decompressobj()
                else:
                    data, in_frame = b"", True
        if in_frame or frames == 0:
            raise EOFError("compressed file is truncated")

    def _decompressobj(self) -> _Decompressor:
        if self.name == "zstd":
            return cast(_Decompressor, zstandard.ZstdDecompressor().decompressobj())
        return zlib.decompressobj(31)


ZSTD = Codec("zstd", ".jsonl.zst", 1)
GZIP = Codec("gzip", ".jsonl.gz", 1)
_BY_NAME = {c.name: c for c in (ZSTD, GZIP)}

# What a broken compressed file raises while it is decompressed.
DECOMPRESS_ERRORS: tuple[type[Exception], ...] = (
    zstandard.ZstdError,
    zlib.error,
    EOFError,
)


def get_codec(name: str, level: int | None = None) -> Codec:
    """The codec called `name` ("zstd" or "gzip"), at level 1 unless `level` is given."""
    try:
        codec = _BY_NAME[name]
    except KeyError:
        raise ConfigError(
            f"unknown chunk codec {name!r}; expected one of {sorted(_BY_NAME)}"
        ) from None
    return codec if level is None else Codec(codec.name, codec.extension, level)


def codec_for_path(path: str) -> Codec:
    """The codec of a chunk file, from its extension."""
    for codec in _BY_NAME.values():
        if path.endswith(codec.extension):
            return codec
    raise ConfigError(f"no codec for file {path!r}")
