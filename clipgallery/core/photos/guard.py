"""Decoding untrusted files on a budget: a child process that can be killed.

:func:`clipgallery.core.photos.imaging.screen` refuses, from their headers, the hostile files
that can be recognised cheaply (scan bombs, declared sizes that need too much memory or
that the file's bytes cannot hold).  What is left is bounded here, so that one file can
never stall the indexer's queue or exhaust memory:

* **time**: each decode runs in a child process (``python -c``, importing only
  :mod:`~clipgallery.core.photos.imaging`); one that does not answer within ``time_budget``
  seconds is killed and the file is skipped with "took too long to decode";
* **memory**: decodes running at once share ``memory_budget`` bytes, by the estimate
  :func:`~clipgallery.core.photos.imaging.screen` gives before dispatching (a decode waits for
  room; one that needs more than all of it is refused).  On Linux each child also gets
  an address-space limit, so that a decode that allocates past its estimate fails
  with "not enough memory" instead of swapping the machine;
* **crashes**: a child that dies (a segfault in a C decoder) costs only its file.

Threading: :meth:`DecodeGuard.decode` is called from the indexer's decode threads, any
number at once; each call leases its own child (started on demand, or ahead by
:meth:`DecodeGuard.prewarm` while the indexer loads its model; reused afterwards; an idle
child exits by itself after ``idle_exit`` seconds on POSIX, and all are stopped at
interpreter exit).  The children run :func:`serve`, one decode at a time.

Frames on the pipes are a 4-byte big-endian length and a payload: the child first
says ``ready`` (its start-up does not count against the budget), then each request is
``(path, data, size, stamp, digest, min_side, max_pixels, max_bytes)``, the reply
``("ok", Decoded)``, ``("error", reason)`` or ``("changed", None)``, all pickles (only ever
from our own child or parent).  ``data`` is None at first: the child reads the file itself
(the page cache serves it; cheaper than the pipe) and answers "changed" unless what it
read is what the caller read, and the request is sent again with the caller's bytes.
"What the caller read" is checked by the file's stamp (size, modification and change
times, inode: :func:`read_file` takes it before reading, the child after), and, for a
file modified within :data:`RECENT_NS` (a rewrite in the same timestamp tick would keep
its stamp), also by the content digest.
"""

from __future__ import annotations

import atexit
import os
import pickle
import queue
import signal
import subprocess
import sys
import threading
import time

from clipgallery.core.photos import hashes, imaging

__all__ = ["DEFAULT_TIME_BUDGET", "DEFAULT_MEMORY_BUDGET", "TOO_SLOW", "DecodeGuard",
           "Stamp", "decode", "prewarm", "read_file", "serve"]

#: Seconds one decode may take before its child is killed (``CLIPGALLERY_DECODE_TIMEOUT``
#: overrides it).  A real photo decodes in well under a second (a 200-megapixel TIFF in
#: a few); the queue behind a hostile file waits at most this long.
DEFAULT_TIME_BUDGET: float = 15.0
#: Bytes that all decodes running at once may need together.
DEFAULT_MEMORY_BUDGET: int = imaging.DEFAULT_MAX_DECODE_BYTES
#: The skip reason of a decode that ran out of time.
TOO_SLOW = "took too long to decode (over {:g} s)"
CRASHED = "the image decoder crashed on this file"

_BOOT = "from clipgallery.core.photos.guard import serve; serve()"
#: The frozen app's executable runs :func:`serve` when given this first argument (its
#: ``sys.executable`` is the app, which has no ``-c``): packaging/clipgallery_main.py.
FROZEN_CHILD_FLAG = "--clipgallery-decoder-child"
_BOOT_TIMEOUT = 60.0
_CHANGED = "changed"  # the child read other bytes than the caller: send them
_READY = b"ready"
_HEADER = 4
#: A file modified less than this long ago (nanoseconds) is compared by its digest too:
#: file systems keep times in ticks (ext4: the kernel's clock tick; FAT: 2 s), and a
#: rewrite within the tick of the last one leaves the stamp as it was.
RECENT_NS = 3_000_000_000

#: What identifies one version of a file: size, mtime and ctime (ns), inode, device.
Stamp = tuple[int, int, int, int, int]


def _stamp(st: os.stat_result) -> Stamp:
    return (st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino, st.st_dev)


def read_file(path: os.PathLike | str) -> tuple[bytes, Stamp]:
    """The file's bytes and its stamp, taken before reading (any thread): a write that
    lands after the stamp, even during the read, makes the decoder child's stamp differ.
    Raises what :func:`open` raises."""
    with open(path, "rb") as f:
        stamp = _stamp(os.fstat(f.fileno()))
        return f.read(), stamp


class DecodeGuard:
    """Decodes in killable child processes, within a time and a shared memory budget."""

    def __init__(self, *, time_budget: float = DEFAULT_TIME_BUDGET,
                 memory_budget: int = DEFAULT_MEMORY_BUDGET,
                 idle_exit: float = 60.0) -> None:
        self.time_budget = float(time_budget)
        self.memory_budget = int(memory_budget)
        self.idle_exit = float(idle_exit)
        self._idle: list[_Child] = []
        self._lock = threading.Lock()
        self._room = threading.Condition()
        self._used = 0
        self._closed = False

    def decode(self, path: os.PathLike | str, data: bytes, *, min_side: int | None = None,
               max_pixels: int = imaging.DEFAULT_MAX_PIXELS, stamp: Stamp | None = None,
               digest: str | None = None) -> imaging.Decoded:
        """:func:`imaging.decode` of ``data`` (the file's bytes), in a child process.

        ``stamp`` is the file's as :func:`read_file` gave it with ``data``; ``digest``
        ``data``'s :func:`hashes.content_hash` if the caller has it (else it is computed
        when needed).  Raises :class:`imaging.DecodeError` for everything that goes
        wrong with the file, including running out of time ("took too long to decode").
        """
        max_bytes = self.memory_budget
        need = imaging.screen(path, data, min_side=min_side, max_pixels=max_pixels,
                              max_bytes=max_bytes)
        # The child reads the file itself (from the page cache: the caller just read it)
        # instead of receiving its bytes through the pipe, which costs more than the read;
        # if what it reads is not what the caller read, the bytes are sent after all.
        if stamp is None or time.time_ns() - stamp[1] < RECENT_NS:
            digest = digest or hashes.content_hash(data)
        else:
            digest = None  # the stamp tells: any write since would have changed it
        first = (None, len(data), stamp, digest)
        request = self._request(path, first, min_side, max_pixels, max_bytes)
        self._reserve(need)
        try:
            restarted = False
            for _attempt in range(3):
                child = self._lease()
                try:
                    reply = child.call(request, self.time_budget)
                except TimeoutError:
                    child.kill()
                    raise imaging.DecodeError(TOO_SLOW.format(self.time_budget)) from None
                if reply is None:  # it died: an idle exit just now, or a crash
                    clean = child.kill() == 0
                    if clean and not restarted:
                        restarted = True
                        continue
                    raise imaging.DecodeError(CRASHED)
                self._release_child(child)
                status, value = pickle.loads(reply)
                if status == "ok":
                    return value
                if status == _CHANGED:
                    request = self._request(path, (data, len(data), None, None), min_side,
                                            max_pixels, max_bytes)
                    continue
                raise imaging.DecodeError(str(value))
            raise imaging.DecodeError(CRASHED)  # pragma: no cover - loop always returns
        finally:
            self._unreserve(need)

    def prewarm(self, count: int) -> None:
        """Start children until ``count`` are idle, without waiting for them: they boot
        (imports, ~0.2 s of CPU each) while the caller does other work, e.g. loads its
        model, instead of in front of the first decodes."""
        with self._lock:
            missing = 0 if self._closed else count - len(self._idle)
        for _ in range(missing):
            child = _Child(self.idle_exit)
            with self._lock:
                if self._closed:
                    child.stop()
                    return
                self._idle.append(child)

    def close(self) -> None:
        """Stop every idle child (leased ones stop when their call ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for child in idle:
            child.stop()

    # -- internals ------------------------------------------------------------

    @staticmethod
    def _request(path: os.PathLike | str,
                 source: tuple[bytes | None, int, Stamp | None, str | None],
                 min_side: int | None, max_pixels: int, max_bytes: int) -> bytes:
        return pickle.dumps((os.fspath(path), *source, min_side, max_pixels, max_bytes),
                            protocol=pickle.HIGHEST_PROTOCOL)

    def _reserve(self, need: int) -> None:
        with self._room:
            while self._used and self._used + need > self.memory_budget:
                self._room.wait()
            self._used += need

    def _unreserve(self, need: int) -> None:
        with self._room:
            self._used -= need
            self._room.notify_all()

    def _lease(self) -> _Child:
        with self._lock:
            while self._idle:
                child = self._idle.pop()
                if child.alive():
                    return child
                child.kill()
        return _Child(self.idle_exit)

    def _release_child(self, child: _Child) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(child)
                return
        child.stop()


class _Child:
    """One decoder process and the thread that reads its replies."""

    def __init__(self, idle_exit: float) -> None:
        env = dict(os.environ)
        env.update(OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1",
                   CLIPGALLERY_DECODER_IDLE_EXIT=str(idle_exit))
        self.proc = subprocess.Popen(
            _child_command(), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
            env=env, close_fds=True)
        self.replies: queue.Queue[bytes | None] = queue.Queue()
        self.ready = False
        threading.Thread(target=self._read, name="decoder-reply", daemon=True).start()
        _LIVE.add(self)

    def _read(self) -> None:
        try:
            while (frame := _read_frame(self.proc.stdout)) is not None:
                self.replies.put(frame)
        except (OSError, ValueError):
            pass
        self.replies.put(None)

    def alive(self) -> bool:
        return self.proc.poll() is None

    def call(self, request: bytes, timeout: float) -> bytes | None:
        """The reply to ``request``; None when the child died; TimeoutError if late.

        The budget starts once the child is up (its start-up, a fraction of a second
        that a loaded machine can stretch, is no fault of the file)."""
        if not self.ready:
            try:
                if self.replies.get(timeout=_BOOT_TIMEOUT) != _READY:
                    return None
            except queue.Empty:
                return None
            self.ready = True
        try:
            _write_frame(self.proc.stdin, request)
        except (OSError, ValueError):
            return None
        try:
            return self.replies.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError from None

    def kill(self) -> int | None:
        """Kill the child (if still running) and reap it; its exit code."""
        if self.proc.poll() is None:
            self.proc.kill()
        try:
            code = self.proc.wait(5)
        except subprocess.TimeoutExpired:  # pragma: no cover - a kill is not refused
            code = None
        self._close_pipes()
        _LIVE.discard(self)
        return code

    def stop(self) -> None:
        """Ask the child to exit (end of its input), kill it if it does not."""
        self._close_pipes()
        try:
            self.proc.wait(2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        _LIVE.discard(self)

    def _close_pipes(self) -> None:
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                if f is not None:
                    f.close()
            except OSError:
                pass


def _child_command() -> list[str]:
    if getattr(sys, "frozen", False):  # PyInstaller: sys.executable is the app itself
        return [sys.executable, FROZEN_CHILD_FLAG]
    return [sys.executable, "-c", _BOOT]


_LIVE: set[_Child] = set()


@atexit.register
def _stop_all() -> None:
    for child in list(_LIVE):
        child.kill()


_DEFAULT: DecodeGuard | None = None
_DEFAULT_LOCK = threading.Lock()


def _default() -> DecodeGuard:
    global _DEFAULT
    with _DEFAULT_LOCK:
        if _DEFAULT is None:
            _DEFAULT = DecodeGuard(time_budget=_time_budget_from_env())
        return _DEFAULT


def decode(path: os.PathLike | str, data: bytes, *, min_side: int | None = None,
           max_pixels: int = imaging.DEFAULT_MAX_PIXELS, stamp: Stamp | None = None,
           digest: str | None = None) -> imaging.Decoded:
    """:meth:`DecodeGuard.decode` with the default budgets (one guard per process)."""
    return _default().decode(path, data, min_side=min_side, max_pixels=max_pixels,
                             stamp=stamp, digest=digest)


def prewarm(count: int) -> None:
    """:meth:`DecodeGuard.prewarm` of the default guard."""
    _default().prewarm(count)


def _time_budget_from_env() -> float:
    try:
        value = float(os.environ.get("CLIPGALLERY_DECODE_TIMEOUT") or DEFAULT_TIME_BUDGET)
    except ValueError:
        return DEFAULT_TIME_BUDGET
    return value if value > 0 else DEFAULT_TIME_BUDGET


# -- the pipes ------------------------------------------------------------------------

def _write_frame(f, payload: bytes) -> None:
    f.write(len(payload).to_bytes(_HEADER, "big"))
    f.write(payload)
    f.flush()


def _read_exact(f, n: int) -> bytes | None:
    chunks, left = [], n
    while left:
        chunk = f.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_frame(f) -> bytes | None:
    head = _read_exact(f, _HEADER)
    if head is None:
        return None
    return _read_exact(f, int.from_bytes(head, "big"))


# -- the child ------------------------------------------------------------------------

def serve() -> None:
    """The child's loop: decode each request on stdin, reply on (the original) stdout.

    Ctrl-C is the parent's to handle; whatever a decoder prints goes to stderr, never
    into the replies.  Exits when its input ends or after an idle spell (POSIX).
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    out = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())
    inp = sys.stdin.buffer.raw  # unbuffered: select() then sees every pending byte
    idle = float(os.environ.get("CLIPGALLERY_DECODER_IDLE_EXIT") or 0) or None
    _limit_memory(imaging.DEFAULT_MAX_DECODE_BYTES)
    _write_frame(out, _READY)
    while True:
        if idle is not None and os.name == "posix":
            import select

            if not select.select([inp], [], [], idle)[0]:
                return  # idle: the parent starts another when it needs one
        frame = _read_frame(inp)
        if frame is None:
            return
        _write_frame(out, _answer(frame))


def _answer(frame: bytes) -> bytes:
    try:
        path, data, size, stamp, digest, min_side, max_pixels, max_bytes = pickle.loads(frame)
        if data is None:
            data = _read_same(path, size, stamp, digest)
            if data is None:
                return pickle.dumps((_CHANGED, None))
        reply: tuple[str, object] = ("ok", imaging.decode(
            path, data, min_side=min_side, max_pixels=max_pixels, max_bytes=max_bytes))
    except imaging.DecodeError as e:
        reply = ("error", e.reason)
    except Exception as e:  # noqa: BLE001 - the parent only ever sees a reason
        reply = ("error", f"cannot decode image: {type(e).__name__}")
    try:
        return pickle.dumps(reply, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - e.g. metadata that does not pickle
        return pickle.dumps(("error", f"cannot decode image: {type(e).__name__}"))


def _read_same(path: str, size: int, stamp: Stamp | None, digest: str | None) -> bytes | None:
    """The file's bytes, or None if they may not be the ``size`` bytes the parent read:
    another length, another stamp (taken after reading: every write that could have
    reached these bytes precedes it), or, when ``digest`` is given, another digest."""
    try:
        with open(path, "rb") as f:
            data = f.read(size + 1)
            now = _stamp(os.fstat(f.fileno()))
    except OSError:
        return None
    if len(data) != size or (stamp is not None and now != tuple(stamp)):
        return None
    if digest is not None and hashes.content_hash(data) != digest:
        return None
    return data


def _limit_memory(max_bytes: int) -> None:
    """Linux: cap the address space at what is mapped now plus twice the decode budget."""
    try:
        import resource

        with open("/proc/self/statm") as f:
            mapped = int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
        limit = mapped + 2 * max_bytes + (256 << 20)
        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        if hard != resource.RLIM_INFINITY:
            limit = min(limit, hard)
        resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    except (ImportError, OSError, ValueError, AttributeError):
        pass
