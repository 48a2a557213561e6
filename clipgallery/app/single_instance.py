"""One window per library: a second start hands over to the first instead of failing.

The instance that owns a library's writer lock listens on a local socket
(:class:`QLocalServer`; a Unix socket or a Windows named pipe) named after the library's
path and the user.  A new start first pings that name (:func:`ping`): when the first
instance answers, it raises and activates its window and the new process exits; when
nobody answers in time (no instance, or one that is stuck), the new start goes on and
the library's writer lock refuses it with the usual message.

Runs in: the UI thread.  The server answers from the event loop; :func:`ping` blocks
for at most its timeout, before the new process has a window.
"""

from __future__ import annotations

import hashlib
import logging
import os
import time
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket
from PySide6.QtWidgets import QApplication, QWidget

log = logging.getLogger(__name__)

PING = b"activate\n"
PONG = b"ok\n"
PING_TIMEOUT_MS = 2000


def server_name(root: Path) -> str:
    """A local-socket name for the library at ``root``, per user."""
    real = os.fsencode(os.path.realpath(os.fspath(root)))
    user = str(os.getuid()) if hasattr(os, "getuid") else os.environ.get("USERNAME", "")
    return f"clipgallery-{user}-{hashlib.sha256(real).hexdigest()[:20]}"


def ping(root: Path, timeout_ms: int = PING_TIMEOUT_MS) -> bool:
    """Ask the instance that has ``root`` open to show its window; True if it did."""
    sock = QLocalSocket()
    deadline = time.monotonic() + timeout_ms / 1000

    def left() -> int:
        return max(1, int((deadline - time.monotonic()) * 1000))

    sock.connectToServer(server_name(root))
    try:
        if not sock.waitForConnected(left()):
            return False
        sock.write(PING)
        if not sock.waitForBytesWritten(left()):
            return False
        while not sock.canReadLine():
            if time.monotonic() >= deadline or not sock.waitForReadyRead(left()):
                return False
        return bytes(sock.readLine().data()) == PONG
    finally:
        sock.abort()


class InstanceServer(QObject):
    """Listens for :func:`ping` and brings ``window`` to the front."""

    activated = Signal()

    def __init__(self, root: Path, window: QWidget) -> None:
        super().__init__(window)
        self.window = window
        self.name = server_name(root)
        self.activations = 0
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        self.server.newConnection.connect(self._on_connection)
        # Only the writer-lock holder gets here, so a name that is taken is a leftover
        # of an instance that died: take it over.
        if not self.server.listen(self.name):
            QLocalServer.removeServer(self.name)
            if not self.server.listen(self.name):
                log.warning("cannot listen on %s: %s", self.name, self.server.errorString())

    @property
    def listening(self) -> bool:
        return self.server.isListening()

    def close(self) -> None:
        self.server.close()

    def _on_connection(self) -> None:
        while (sock := self.server.nextPendingConnection()) is not None:
            sock.readyRead.connect(lambda s=sock: self._on_ready(s))
            sock.disconnected.connect(sock.deleteLater)
            if sock.canReadLine():
                self._on_ready(sock)

    def _on_ready(self, sock: QLocalSocket) -> None:
        if not sock.canReadLine():
            return
        line = bytes(sock.readLine().data())
        if line != PING:
            sock.abort()
            return
        self.bring_to_front()
        sock.write(PONG)
        sock.flush()
        sock.disconnectFromServer()

    def bring_to_front(self) -> None:
        w = self.window
        if w.isMinimized():
            w.showNormal()
        w.show()
        w.raise_()
        w.activateWindow()
        QApplication.alert(w)  # where the window manager refuses focus: flash the taskbar
        self.activations += 1
        self.activated.emit()
