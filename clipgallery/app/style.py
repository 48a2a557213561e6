"""The app's look: Fusion with a light palette and a small style sheet (UI thread)."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication

STYLE_SHEET = """
QMainWindow { background: #f6f7f9; }
QToolBar#mainToolbar {
    background: #f6f7f9; border: none; border-bottom: 1px solid #d9dbe0;
    padding: 6px 10px; spacing: 8px;
}
QToolBar#mainToolbar QToolButton { padding: 4px 8px; border-radius: 5px; }
QToolBar#mainToolbar QToolButton:hover { background: #e3e6eb; }
QLineEdit#searchField {
    border: 1px solid #c5c9d0; border-radius: 15px; padding: 4px 12px;
    background: white; min-height: 20px; font-size: 13px;
    selection-background-color: #2f6fd0;
}
QLineEdit#searchField:focus { border: 1px solid #2f6fd0; }
QWidget#sidebar { background: #eceef2; }
QLabel#sidebarTitle { color: #6b7078; font-weight: bold; font-size: 11px; }
QLabel#sidebarSummary { color: #6b7078; font-size: 11px; }
QListWidget#folderList { background: transparent; outline: none; }
QWidget#sidebar QToolButton { font-size: 15px; font-weight: bold; color: #4a4f57;
    min-width: 22px; border-radius: 4px; }
QWidget#sidebar QToolButton:hover { background: #dcdfe4; }
QWidget#sidebar QToolButton#duplicatesButton { font-size: 11px; font-weight: normal;
    padding: 1px 6px; }
QListWidget#albumList { background: transparent; outline: none; }
QToolBar#mainToolbar QToolButton:checked { background: #dde3ec; }
QFrame#filterBar { background: #fafbfc; border-bottom: 1px solid #e3e6eb; }
QSplitter::handle { background: #d9dbe0; }
QWidget#resultsPage, QListView#resultsGrid { background: white; }
QFrame#resultsHeader { background: white; border-bottom: 1px solid #eceef1; }
QLabel#resultsTitle { color: #2b2e33; font-size: 13px; font-weight: 600; }
QLabel#resultsDetail { color: #7a7f87; }
QLabel#emptyLabel { color: #6b7078; font-size: 14px; }
QWidget#welcomePanel, QWidget#modelErrorPanel, QWidget#messagePanel { background: white; }
QLabel#panelTitle { font-size: 22px; font-weight: 600; color: #2b2e33; }
QLabel#panelText { color: #555a62; font-size: 13px; }
QPushButton#panelButton {
    background: #2f6fd0; color: white; border: none; border-radius: 6px;
    padding: 8px 18px; font-weight: 600;
}
QPushButton#panelButton:hover { background: #2a63bb; }
QStatusBar { background: #f6f7f9; border-top: 1px solid #d9dbe0; }
QStatusBar QLabel { color: #3d4148; padding: 0 4px; }
QStatusBar::item { border: none; }
QFrame#previewBar { background: #2a2b2f; }
QFrame#previewBar QLabel { color: #e8e8ea; }
QLabel#previewTitle { font-weight: 600; }
QFrame#previewBar QToolButton { color: #e8e8ea; padding: 4px 8px; border-radius: 4px; }
QFrame#previewBar QToolButton:hover { background: #3b3d42; }
QFrame#previewBar QToolButton:disabled { color: #6d6f75; }
QFrame#previewInfo { background: #25262a; }
QLabel#previewLabel { color: #8d9097; font-size: 10px; font-weight: bold; }
QLabel#previewValue { color: #e8e8ea; }
"""


def apply(app: QApplication) -> None:
    app.setStyle("Fusion")
    pal = QPalette()
    pal.setColor(QPalette.ColorRole.Window, QColor("#f6f7f9"))
    pal.setColor(QPalette.ColorRole.Base, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.AlternateBase, QColor("#f2f3f5"))
    pal.setColor(QPalette.ColorRole.Text, QColor("#24272c"))
    pal.setColor(QPalette.ColorRole.WindowText, QColor("#24272c"))
    pal.setColor(QPalette.ColorRole.ButtonText, QColor("#24272c"))
    pal.setColor(QPalette.ColorRole.Button, QColor("#f0f1f3"))
    pal.setColor(QPalette.ColorRole.Highlight, QColor("#2f6fd0"))
    pal.setColor(QPalette.ColorRole.HighlightedText, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipBase, QColor("#ffffff"))
    pal.setColor(QPalette.ColorRole.ToolTipText, QColor("#24272c"))
    pal.setColor(QPalette.ColorRole.PlaceholderText, QColor("#8d9097"))
    app.setPalette(pal)
    app.setStyleSheet(STYLE_SHEET)
