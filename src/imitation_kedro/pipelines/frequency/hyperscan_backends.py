"""The two ways to run a Hyperscan database: the system library with matches collected in C, or
the ``hyperscan`` wheel (``frequency.matching.hyperscan``).

* ``system``: the system's libhs (Debian ``libhyperscan5``, or ``libvectorscan5`` off x86) through
  ctypes, with a C match handler that appends each match to an array (``hyperscan_collect.c``,
  built once with the system C compiler into the cache directory, keyed on its source). No Python
  runs per match and ctypes releases the GIL for the whole scan, so threads scan in parallel; on
  the benchmark corpus a shard scans in ~60 % of the wheel's time.
* ``bundled``: the ``hyperscan`` wheel (Vectorscan linked in). It calls back into Python, re-taking
  the GIL, for every match (~0.2 us each, a third of the scan on a corpus with many hits).
* ``auto`` (default): ``system`` when the library and a C compiler are there, else ``bundled``
  (the reason is logged once).

Both compile the same patterns and report the same matches (tested); each database is cached on
disk keyed on the patterns, the flags, the machine and the library version.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import logging
import os
import platform
import shutil
import subprocess
import sysconfig
import tempfile
import threading
import weakref
from array import array
from collections.abc import Callable
from functools import cache
from importlib import resources
from pathlib import Path

import numpy as np

logger = logging.getLogger(__name__)

HS_MODE_BLOCK = 1
_COLLECT_SOURCE = "hyperscan_collect.c"
_LIBRARY_NAMES = ("libhs.so.5", "libhs.so", "libhs.dylib")


class HyperscanBackendError(RuntimeError):
    """The requested Hyperscan backend cannot run here (names what is missing and the fix)."""


def cache_dir() -> Path:
    root = os.environ.get("IMITATION_KEDRO_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "imitation_kedro"
    )
    return Path(root) / "hyperscan"


def _atomic_write(path: Path, data: bytes) -> None:
    from imitation_kedro.datasets.atomic import atomic_write

    atomic_write(path, lambda fh: fh.write(data))


def _cached_database(
    tag: str, expressions: list[bytes], flags: list[int], compile_: Callable, dump, load
):
    """``compile_()``'s database, or the one cached on disk under the same key.

    Compiling ~1,500 phrase patterns takes seconds; a serialised database loads in ms. A cache
    that cannot be read or written is ignored (the database is compiled again).
    """
    key = repr((tag, flags, platform.machine(), expressions)).encode()
    path = cache_dir() / f"{hashlib.sha256(key).hexdigest()}.hsdb"
    try:
        return load(path.read_bytes())
    except Exception as exc:  # noqa: BLE001 - missing, unreadable or corrupt: compile again
        logger.debug("hyperscan database cache not read: %s", exc)
    db = compile_()
    try:
        _atomic_write(path, dump(db))
    except OSError as exc:
        logger.debug("hyperscan database cache not written: %s", exc)
    return db


# --- bundled: the hyperscan wheel ---------------------------------------------------------------


class BundledDatabase:
    """A block-mode database of the ``hyperscan`` wheel; :meth:`scan` packs ``end << 32 | id``."""

    name = "bundled"

    def __init__(self, expressions: list[bytes], flags: list[int]) -> None:
        import hyperscan

        def compile_():
            db = hyperscan.Database(mode=hyperscan.HS_MODE_BLOCK)
            db.compile(expressions=expressions, ids=list(range(len(expressions))), flags=flags)
            return db

        self._db = _cached_database(
            f"wheel {hyperscan.__version__}", expressions, flags, compile_, hyperscan.dumpb, _loadb
        )
        self._local = threading.local()

    def scan(self, data: memoryview) -> np.ndarray:
        found = array("q")
        push = found.append
        self._db.scan(
            data,
            match_event_handler=lambda pid, _start, end, _flags, _ctx: push(end << 32 | pid),
            scratch=self._scratch(),
        )
        return np.frombuffer(found, dtype=np.int64) if found else np.empty(0, np.int64)

    def _scratch(self):
        import hyperscan

        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = hyperscan.Scratch(self._db)
        return scratch

    def __getstate__(self) -> dict:
        """Pickled with its compiled database, so worker processes never recompile it."""
        import hyperscan

        return {"db": hyperscan.dumpb(self._db)}

    def __setstate__(self, state: dict) -> None:
        self._db = _loadb(state["db"])
        self._local = threading.local()


def _loadb(blob: bytes):
    import hyperscan

    return hyperscan.loadb(blob, mode=hyperscan.HS_MODE_BLOCK)


# --- system: libhs through ctypes, matches collected in C ---------------------------------------


class _CompileError(ctypes.Structure):
    _fields_ = [("message", ctypes.c_char_p), ("expression", ctypes.c_int)]


class _System:
    """The system libhs and the compiled match collector, loaded once per process."""

    def __init__(self, hs: ctypes.CDLL, collect: ctypes.CDLL) -> None:
        p, u, vp = ctypes.POINTER, ctypes.c_uint, ctypes.c_void_p
        hs.hs_version.restype = ctypes.c_char_p
        hs.hs_compile_multi.argtypes = [
            p(ctypes.c_char_p), p(u), p(u), u, u, vp, p(vp), p(p(_CompileError))
        ]  # fmt: skip
        hs.hs_free_compile_error.argtypes = [p(_CompileError)]
        hs.hs_serialize_database.argtypes = [vp, p(vp), p(ctypes.c_size_t)]
        hs.hs_deserialize_database.argtypes = [ctypes.c_char_p, ctypes.c_size_t, p(vp)]
        hs.hs_alloc_scratch.argtypes = [vp, p(vp)]
        hs.hs_free_scratch.argtypes = [vp]
        hs.hs_free_database.argtypes = [vp]
        collect.hsc_scan_collect.argtypes = [
            vp, vp, vp, u, vp, p(p(ctypes.c_uint64)), p(ctypes.c_uint64)
        ]  # fmt: skip
        collect.hsc_free.argtypes = [vp]
        self.hs, self.collect = hs, collect
        self.version = hs.hs_version().decode()
        self.scan_fn = ctypes.cast(hs.hs_scan, vp)


@cache
def _system() -> _System | str:
    """The loaded system backend, or why it cannot be used (a sentence naming the fix)."""
    hs = _load_libhs()
    if hs is None:
        return (
            "the system Hyperscan library (libhs) is not installed: "
            "apt-get install libhyperscan5 (libvectorscan5 off x86)"
        )
    try:
        collect = ctypes.CDLL(str(_collector()))
    except (OSError, subprocess.SubprocessError, HyperscanBackendError) as exc:
        return f"the C match collector could not be built or loaded: {exc}"
    return _System(hs, collect)


def _load_libhs() -> ctypes.CDLL | None:
    for name in _LIBRARY_NAMES:
        try:
            return ctypes.CDLL(name)
        except OSError:
            pass
    found = ctypes.util.find_library("hs")  # runs ldconfig/gcc in a subprocess: the last resort
    try:
        return ctypes.CDLL(found) if found else None
    except OSError:
        return None


def _collector() -> Path:
    """The match collector's shared library, built from its source on first use (cached)."""
    source = resources.files(__package__).joinpath(_COLLECT_SOURCE).read_bytes()
    key = hashlib.sha256(
        source + sysconfig.get_platform().encode() + platform.machine().encode()
    ).hexdigest()
    path = cache_dir() / f"collect-{key[:24]}.so"
    if path.exists():
        return path
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if not compiler:
        raise HyperscanBackendError("no C compiler (cc/gcc; apt-get install gcc)")
    with tempfile.TemporaryDirectory(prefix="hyperscan_collect_") as tmp:
        src, out = Path(tmp) / _COLLECT_SOURCE, Path(tmp) / "collect.so"
        src.write_bytes(source)
        done = subprocess.run(
            [compiler, "-O2", "-shared", "-fPIC", "-o", str(out), str(src)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode:
            raise HyperscanBackendError(f"{compiler} failed: {done.stderr.strip()[:300]}")
        _atomic_write(path, out.read_bytes())
    return path


def system_unavailable() -> str | None:
    """None when the ``system`` backend can run here, else why not."""
    found = _system()
    return found if isinstance(found, str) else None


class _Scratch:
    def __init__(self, sys_: _System, db: ctypes.c_void_p) -> None:
        self.ptr = ctypes.c_void_p()
        _check(sys_.hs.hs_alloc_scratch(db, ctypes.byref(self.ptr)), "hs_alloc_scratch")
        self._free = weakref.finalize(self, sys_.hs.hs_free_scratch, self.ptr)


def _check(rc: int, what: str) -> None:
    if rc == -100:
        raise MemoryError("hyperscan: the match array could not grow")
    if rc:
        raise HyperscanBackendError(f"{what} failed with Hyperscan error code {rc}")


class SystemDatabase:
    """A block-mode database of the system libhs; :meth:`scan` packs ``end << 32 | id``."""

    name = "system"

    def __init__(self, expressions: list[bytes], flags: list[int]) -> None:
        sys_ = _system()
        if isinstance(sys_, str):
            raise HyperscanBackendError(sys_)
        self._sys = sys_

        def compile_() -> ctypes.c_void_p:
            n = len(expressions)
            db, err = ctypes.c_void_p(), ctypes.POINTER(_CompileError)()
            rc = sys_.hs.hs_compile_multi(
                (ctypes.c_char_p * n)(*expressions),
                (ctypes.c_uint * n)(*flags),
                (ctypes.c_uint * n)(*range(n)),
                n,
                HS_MODE_BLOCK,
                None,
                ctypes.byref(db),
                ctypes.byref(err),
            )
            if rc:
                message, at = err.contents.message.decode(), err.contents.expression
                sys_.hs.hs_free_compile_error(err)
                raise HyperscanBackendError(f"pattern {at} does not compile: {message}")
            return db

        db = _cached_database(
            f"libhs {sys_.version}", expressions, flags, compile_, self._dump, self._load
        )
        self._own(db)

    def _own(self, db: ctypes.c_void_p) -> None:
        self._db = db
        self._free = weakref.finalize(self, self._sys.hs.hs_free_database, db)
        self._local = threading.local()

    def _dump(self, db: ctypes.c_void_p) -> bytes:
        out, size = ctypes.c_void_p(), ctypes.c_size_t()
        _check(
            self._sys.hs.hs_serialize_database(db, ctypes.byref(out), ctypes.byref(size)),
            "hs_serialize_database",
        )
        try:
            return ctypes.string_at(out, size.value)
        finally:
            self._sys.collect.hsc_free(out)

    def _load(self, blob: bytes) -> ctypes.c_void_p:
        db = ctypes.c_void_p()
        _check(
            self._sys.hs.hs_deserialize_database(blob, len(blob), ctypes.byref(db)),
            "hs_deserialize_database",
        )
        return db

    def scan(self, data: memoryview) -> np.ndarray:
        buf = np.frombuffer(data, dtype=np.uint8)
        scratch = getattr(self._local, "scratch", None)
        if scratch is None:
            scratch = self._local.scratch = _Scratch(self._sys, self._db)
        out, n = ctypes.POINTER(ctypes.c_uint64)(), ctypes.c_uint64()
        rc = self._sys.collect.hsc_scan_collect(
            self._sys.scan_fn, self._db, buf.ctypes.data, buf.size, scratch.ptr, out, n
        )
        try:
            _check(rc, "hs_scan")
            if not n.value:
                return np.empty(0, np.int64)
            return np.ctypeslib.as_array(out, (n.value,)).view(np.int64).copy()
        finally:
            self._sys.collect.hsc_free(out)

    def __getstate__(self) -> dict:
        """Pickled with its serialised database, so worker processes never recompile it."""
        return {"db": self._dump(self._db)}

    def __setstate__(self, state: dict) -> None:
        sys_ = _system()
        if isinstance(sys_, str):
            raise HyperscanBackendError(sys_)
        self._sys = sys_
        self._own(self._load(state["db"]))


def open_database(expressions: list[bytes], flags: list[int], backend: str = "auto"):
    """A compiled block-mode database on ``backend`` (``auto``, ``system`` or ``bundled``)."""
    if backend not in ("auto", "system", "bundled"):
        raise ValueError(f"hyperscan backend must be auto, system or bundled, got {backend!r}")
    why_not = system_unavailable() if backend != "bundled" else None
    if backend == "system" and why_not:
        raise HyperscanBackendError(
            f"frequency.matching.hyperscan: system, but {why_not} "
            "(or set frequency.matching.hyperscan: bundled)"
        )
    if backend == "bundled" or why_not:
        if why_not:
            _log_fallback(why_not)
        return BundledDatabase(expressions, flags)
    return SystemDatabase(expressions, flags)


@cache
def _log_fallback(why: str) -> None:
    logger.info("caption scan on the hyperscan wheel (slower): %s", why)
