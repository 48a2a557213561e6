"""Full-area panels: the welcome screen, a notice with an action, and busy notes.

Runs in: the UI thread.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget


class MessagePanel(QWidget):
    """A centred title, an explanation and (optionally) one button."""

    action_clicked = Signal()

    def __init__(self, title: str, text: str = "", action: str | None = None,
                 parent: QWidget | None = None, object_name: str = "messagePanel") -> None:
        super().__init__(parent)
        self.setObjectName(object_name)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(40, 40, 40, 40)
        outer.addStretch(2)
        box = QVBoxLayout()
        box.setSpacing(14)
        self.title = QLabel(title)
        self.title.setObjectName("panelTitle")
        self.title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.title.setWordWrap(True)
        self.text = QLabel(text)
        self.text.setObjectName("panelText")
        self.text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.text.setWordWrap(True)
        self.text.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.text.setMinimumWidth(380)
        self.text.setMaximumWidth(560)
        self.text.setTextFormat(Qt.TextFormat.RichText)
        box.addWidget(self.title)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.text)
        row.addStretch(1)
        box.addLayout(row)
        self.button: QPushButton | None = None
        if action:
            self.button = QPushButton(action)
            self.button.setObjectName("panelButton")
            self.button.setDefault(True)
            self.button.setMinimumWidth(160)
            self.button.clicked.connect(self.action_clicked)
            brow = QHBoxLayout()
            brow.addStretch(1)
            brow.addWidget(self.button)
            brow.addStretch(1)
            box.addSpacing(6)
            box.addLayout(brow)
        outer.addLayout(box)
        outer.addStretch(3)

    def set_text(self, title: str, text: str) -> None:
        self.title.setText(title)
        self.text.setText(text)


def welcome_panel(parent: QWidget | None = None) -> MessagePanel:
    return MessagePanel(
        "Welcome to ClipGallery",
        "Add a folder of photos and ClipGallery will index it in the background, on "
        "this computer. Then type what you are looking for, like <i>dog on a chair</i> "
        "or <i>sunset at the beach</i>.<br><br>You can also drag a folder onto this window.",
        "Add Folder…", parent, object_name="welcomePanel")


def model_error_panel(parent: QWidget | None = None) -> MessagePanel:
    return MessagePanel("Search is not available", "", None, parent,
                        object_name="modelErrorPanel")
