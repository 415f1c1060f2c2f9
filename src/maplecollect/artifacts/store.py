"""The artifact store: one fsspec filesystem and a root, with atomic publication.

Contract:
- A file is visible under its final name only once complete. Local: written to
  a hidden temporary name in the same folder, fsynced, `os.replace`d, folder
  fsynced. Object stores: one PUT of the whole object (`pipe_file`).
- Every filesystem failure is raised as StoreError (run-fatal for a writer).
- Methods marked "blocking" do I/O on the calling thread: call them from a worker
  thread (the writer does) or from synchronous code (the reader). The `async`
  methods move their I/O off the event loop with `asyncio.to_thread`.
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import io
import os
import posixpath
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import BinaryIO, Protocol, cast

import fsspec
from fsspec.implementations.local import LocalFileSystem

from maplecollect.artifacts import layout
from maplecollect.errors import StoreError


@contextmanager
def store_errors(action: str, where: str) -> Iterator[None]:
    """The one border where filesystem errors become StoreError."""
    try:
        yield
    except StoreError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot {action} {where}: {exc}") from exc


class Staging(Protocol):
    """A file being written. Invisible under its final name until `commit()`.

    Not thread-safe: one thread at a time (the writer runs one job at a time).
    """

    size: int

    def write(self, data: bytes) -> None: ...

    def sha256(self) -> str: ...

    def commit(self) -> None: ...

    def discard(self) -> None: ...


class _LocalStaging:
    """Temp file next to the final name; a rename makes it appear whole.

    `exclusive` publishes only if the final name does not exist yet (a hard
    link, then the temp name is dropped): a part file, once published, is never
    replaced by another writer (docs/reliability.md "Fencing"). `tag` goes into
    the temp name (the writer puts its lease epoch there) so leftovers say whose
    they are.
    """

    def __init__(self, final: str, *, exclusive: bool = False, tag: str = "") -> None:
        self._final = final
        self._exclusive = exclusive
        folder, name = os.path.split(final)
        os.makedirs(folder, exist_ok=True)
        # Hidden and ending in .tmp, so `*.jsonl.zst` globs never match it.
        prefix = f".{name}.{tag}." if tag else f".{name}."
        fd, self._tmp = tempfile.mkstemp(dir=folder, prefix=prefix, suffix=".tmp")
        os.fchmod(fd, 0o644)  # mkstemp's 0600 would hide chunks from other readers
        self._file = os.fdopen(fd, "wb")
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        self._file.write(data)
        self._hash.update(data)
        self.size += len(data)

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> None:
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        if self._exclusive:
            _link_if_absent(self._tmp, self._final)
        else:
            os.replace(self._tmp, self._final)
        # The rename is durable only once the folder entry is.
        dir_fd = os.open(os.path.dirname(self._final), os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)

    def discard(self) -> None:
        self._file.close()
        with suppress(FileNotFoundError):  # already renamed by commit()
            os.unlink(self._tmp)


def _link_if_absent(tmp: str, final: str) -> None:
    """Publish `tmp` as `final` unless `final` exists (FileExistsError then).

    os.link fails atomically on an existing name, unlike os.replace. Where hard
    links are unsupported, fall back to check-then-rename (not atomic).
    """
    try:
        os.link(tmp, final)
    except FileExistsError:
        raise
    except OSError as exc:
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if os.path.exists(final):
            raise FileExistsError(errno.EEXIST, "already published", final) from exc
        os.replace(tmp, final)
        return
    os.unlink(tmp)


class _ObjectStaging:
    """Bytes in memory (bounded by the chunk size), then one PUT of the whole object."""

    def __init__(
        self, fs: fsspec.AbstractFileSystem, final: str, *, exclusive: bool = False
    ) -> None:
        self._fs = fs
        self._final = final
        self._exclusive = exclusive
        self._buf: io.BytesIO | None = io.BytesIO()
        self._hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> None:
        assert self._buf is not None, "write after commit/discard"
        self._buf.write(data)
        self._hash.update(data)
        self.size += len(data)

    def sha256(self) -> str:
        return self._hash.hexdigest()

    def commit(self) -> None:
        assert self._buf is not None, "commit after commit/discard"
        # Object stores have no portable put-if-absent here: check, then PUT.
        if self._exclusive and self._fs.exists(self._final):
            raise FileExistsError(errno.EEXIST, "already published", self._final)
        self._fs.pipe_file(self._final, self._buf.getvalue())
        self._buf = None

    def discard(self) -> None:
        self._buf = None


class Store:
    """An fsspec filesystem plus a root folder; paths given to methods are store-relative."""

    def __init__(self, fs: fsspec.AbstractFileSystem, root: str) -> None:
        self.fs = fs
        self.root = root.rstrip("/") or "/"
        self.is_local = isinstance(fs, LocalFileSystem)

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @property
    def url(self) -> str:
        return self.url_for("")

    def full_path(self, rel: str) -> str:
        return posixpath.join(self.root, rel) if rel else self.root

    def url_for(self, rel: str) -> str:
        """A path DuckDB, `zstd` or fsspec can open: plain for local, `scheme://` otherwise."""
        path = self.full_path(rel)
        return path if self.is_local else cast(str, self.fs.unstrip_protocol(path))

    # -- blocking primitives --------------------------------------------------

    def open_staging(self, rel: str, *, exclusive: bool = False, tag: str = "") -> Staging:
        """Blocking. Start writing `rel`; nothing appears under that name before commit.

        `exclusive`: commit fails (StoreError) if `rel` was published meanwhile.
        """
        final = self.full_path(rel)
        with store_errors("create", self.url_for(rel)):
            if self.is_local:
                return _LocalStaging(final, exclusive=exclusive, tag=tag)
            return _ObjectStaging(self.fs, final, exclusive=exclusive)

    def put_atomic(self, rel: str, data: bytes) -> None:
        """Blocking. Write a whole small file atomically (manifest, _SUCCESS)."""
        with store_errors("write", self.url_for(rel)):
            staging = self.open_staging(rel)
            try:
                staging.write(data)
                staging.commit()
            except BaseException:
                staging.discard()
                raise

    def open_read(self, rel: str) -> BinaryIO:
        """Blocking. Open a published file for reading."""
        with store_errors("open", self.url_for(rel)):
            if self.is_local:
                return open(self.full_path(rel), "rb")
            return cast(BinaryIO, self.fs.open(self.full_path(rel), "rb"))

    def cat(self, rel: str) -> bytes:
        """Blocking. The whole content of a small file."""
        with store_errors("read", self.url_for(rel)):
            return cast(bytes, self.fs.cat_file(self.full_path(rel)))

    def listdir(self, rel: str) -> list[str]:
        """Blocking. Names (not paths) directly under `rel`; [] if it does not exist."""
        path = self.full_path(rel)
        with store_errors("list", self.url_for(rel)):
            if not self.fs.isdir(path):
                return []
            return sorted(posixpath.basename(p.rstrip("/")) for p in self.fs.ls(path, detail=False))

    def exists_sync(self, rel: str) -> bool:
        """Blocking. Whether `rel` exists."""
        with store_errors("stat", self.url_for(rel)):
            return bool(self.fs.exists(self.full_path(rel)))

    def remove_sync(self, rel: str, *, recursive: bool = False) -> bool:
        """Blocking. Remove a file (or a folder with `recursive`); False if it was absent."""
        path = self.full_path(rel)
        with store_errors("remove", self.url_for(rel)):
            if not self.fs.exists(path):
                return False
            self.fs.rm(path, recursive=recursive)
            return True

    # -- async API (I/O in worker threads) ------------------------------------

    async def write_bytes(self, rel: str, data: bytes) -> None:
        await asyncio.to_thread(self.put_atomic, rel, data)

    async def read_bytes(self, rel: str) -> bytes:
        return await asyncio.to_thread(self.cat, rel)

    async def exists(self, rel: str) -> bool:
        return await asyncio.to_thread(self.exists_sync, rel)

    async def remove(self, rel: str) -> bool:
        return await asyncio.to_thread(self.remove_sync, rel)

    async def list_names(self, rel: str) -> list[str]:
        return await asyncio.to_thread(self.listdir, rel)

    async def list_runs(self) -> list[str]:
        """Run ids that have a folder in the store, sorted."""
        return await asyncio.to_thread(self.listdir, layout.RUNS)

    async def delete_run(self, run_id: str) -> bool:
        """Retention: remove every file of a run; False if it had none."""
        return await asyncio.to_thread(self.remove_sync, layout.run_dir(run_id), recursive=True)

    async def remove_parts_after(self, run_id: str, endpoint: str, part: int) -> list[str]:
        """Before a resume: drop part files numbered above `part` (published by a
        crashed attempt but never promoted) and every leftover temp file.
        Returns the store-relative paths removed. Idempotent.
        """
        return await asyncio.to_thread(self._remove_parts_after, run_id, endpoint, part)

    def _remove_parts_after(self, run_id: str, endpoint: str, part: int) -> list[str]:
        base = layout.endpoint_dir(run_id, endpoint)
        removed: list[str] = []
        for sub in (layout.CHUNKS, layout.FAILED):
            for name in self.listdir(f"{base}/{sub}"):
                number = layout.parse_part(name)
                if layout.is_temp_name(name) or (number is not None and number > part):
                    rel = f"{base}/{sub}/{name}"
                    self.remove_sync(rel)
                    removed.append(rel)
        return removed


def open_store(url: str) -> Store:
    """A Store for a plain path, `file://`, `memory://` or `s3://bucket/prefix` (needs s3fs)."""
    try:
        fs, root = fsspec.core.url_to_fs(url)
    except (ImportError, ValueError) as exc:
        raise StoreError(f"cannot open artifact store {url!r}: {exc}") from exc
    return Store(fs, root)
