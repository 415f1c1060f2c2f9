from __future__ import annotations

import gzip
import io
import random
import shutil
import subprocess

import pytest
import zstandard

from maplecollect.artifacts.codec import (
    DECOMPRESS_ERRORS,
    GZIP,
    ZSTD,
    Codec,
    codec_for_path,
    get_codec,
)
from maplecollect.errors import ConfigError

DATA = [b'{"i":%d,"pad":"%s"}\n' % (i, b"x" * (i % 97)) for i in range(3000)]


def compress(codec: Codec, blocks: list[bytes]) -> bytes:
    c = codec.compressor()
    return b"".join(c.compress(b) for b in blocks) + c.finish()


@pytest.mark.parametrize("codec", [ZSTD, GZIP], ids=["zstd", "gzip"])
def test_round_trip_in_several_blocks(codec: Codec) -> None:
    blob = compress(codec, [b"".join(DATA[:1000]), b"", b"".join(DATA[1000:])])
    assert b"".join(codec.decompress(io.BytesIO(blob), block=1000)) == b"".join(DATA)


@pytest.mark.parametrize("codec", [ZSTD, GZIP], ids=["zstd", "gzip"])
def test_empty_file_is_a_valid_stream(codec: Codec) -> None:
    assert b"".join(codec.decompress(io.BytesIO(compress(codec, [])))) == b""


@pytest.mark.parametrize("codec", [ZSTD, GZIP], ids=["zstd", "gzip"])
def test_concatenated_frames_are_read_whole(codec: Codec) -> None:
    blob = compress(codec, DATA[:10]) + compress(codec, DATA[10:20])
    assert b"".join(codec.decompress(io.BytesIO(blob), block=7)) == b"".join(DATA[:20])


@pytest.mark.parametrize("codec", [ZSTD, GZIP], ids=["zstd", "gzip"])
@pytest.mark.parametrize("cut", [0, 1, 10])
def test_truncated_or_empty_file_is_an_error(codec: Codec, cut: int) -> None:
    blob = compress(codec, [b"".join(DATA)])
    data = b"" if cut == 0 else blob[:-cut]
    with pytest.raises(EOFError):
        b"".join(codec.decompress(io.BytesIO(data)))


@pytest.mark.parametrize("codec", [ZSTD, GZIP], ids=["zstd", "gzip"])
def test_corrupt_data_is_an_error(codec: Codec) -> None:
    blob = bytearray(compress(codec, [b"".join(DATA)]))
    blob[len(blob) // 2] ^= 0xFF
    with pytest.raises(DECOMPRESS_ERRORS):
        b"".join(codec.decompress(io.BytesIO(bytes(blob))))


def test_zstd_is_one_standard_frame_with_checksum() -> None:
    blob = compress(ZSTD, [b"".join(DATA)])
    params = zstandard.get_frame_parameters(blob)
    assert params.has_checksum
    assert zstandard.ZstdDecompressor().decompressobj().decompress(blob) == b"".join(DATA)


def test_zstd_window_reaches_across_records_within_what_decoders_accept() -> None:
    # Records that repeat an earlier one 2 MB back: a default level-1 window (512 KB)
    # cannot see it, the 8 MB one must (the zstd format's recommended decoder minimum).
    rng = random.Random(7)
    record = bytes(rng.getrandbits(8) for _ in range(2 * 1024 * 1024))
    blob = compress(ZSTD, [record, record])
    assert zstandard.get_frame_parameters(blob).window_size <= 8 * 1024 * 1024
    assert len(blob) < len(record) * 1.1
    assert b"".join(ZSTD.decompress(io.BytesIO(blob))) == record + record


@pytest.mark.skipif(shutil.which("zstd") is None, reason="zstd CLI not installed")
def test_zstd_cli_reads_it() -> None:
    blob = compress(ZSTD, [b"".join(DATA)])
    out = subprocess.run(["zstd", "-d", "-c"], input=blob, capture_output=True, check=True)
    assert out.stdout == b"".join(DATA)


def test_gzip_is_standard_gzip() -> None:
    assert gzip.decompress(compress(GZIP, [b"".join(DATA)])) == b"".join(DATA)


def test_choice_by_name_and_extension() -> None:
    assert get_codec("zstd") is ZSTD and ZSTD.extension == ".jsonl.zst" and ZSTD.level == 1
    assert get_codec("gzip") is GZIP and GZIP.extension == ".jsonl.gz" and GZIP.level == 1
    assert get_codec("zstd", 3).level == 3
    assert codec_for_path("x/part-000001.jsonl.gz") is GZIP
    assert codec_for_path("part-000001.jsonl.zst") is ZSTD
    with pytest.raises(ConfigError):
        get_codec("lz4")
    with pytest.raises(ConfigError):
        codec_for_path("part-000001.jsonl")
