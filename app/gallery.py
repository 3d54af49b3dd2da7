"""The scene gallery: the world's scene seeds and the user's own, as thumbnails.

Also where a session starts from: the world picker, "Open image…", and the random-seed
field (blank draws a number, shown after the draw so a session can be reproduced).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from app.frame_view import to_qimage
from app.icons import icon
from model.play.errors import UserError
from model.play.images import read_image

THUMB = QSize(128, 96)
SEED_SUFFIXES = (".npz", ".png", ".jpg", ".jpeg")


def user_seed_files(folder: Path) -> list[Path]:
    """The user's scene seeds: each .npz, and each image that is not an .npz's thumbnail."""
    if not folder.is_dir():
        return []
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in SEED_SUFFIXES and p.is_file())
    npz_stems = {p.stem for p in files if p.suffix.lower() == ".npz"}
    return [p for p in files if p.suffix.lower() == ".npz" or p.stem not in npz_stems]


def thumbnail(path: Path) -> QPixmap:
    """`<name>.png` beside `<name>.npz`, else the image itself, else the clip's last frame."""
    frame = None
    for candidate in (path.with_suffix(".png"), path):
        if candidate.suffix.lower() in (".png", ".jpg", ".jpeg") and candidate.is_file():
            try:
                frame = read_image(candidate)       # Pillow, with its decompression-bomb guard
                break
            except UserError:
                pass                                # broken: try the next; loading it will say why
    if frame is None and path.suffix.lower() == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                frames = data["frames"]
                if frames.dtype == np.uint8 and frames.ndim == 4 and frames.shape[-1] == 3:
                    frame = frames[-1]
        except Exception:  # a broken file gets a blank thumbnail; loading it will say why
            pass
    if frame is None:
        pixmap = QPixmap(THUMB)
        pixmap.fill(Qt.darkGray)
        return pixmap
    return QPixmap.fromImage(to_qimage(frame).scaled(THUMB, Qt.KeepAspectRatioByExpanding, Qt.SmoothTransformation))


class SeedList(QListWidget):
    chosen = Signal(str)                      # a pack seed's name, or a file path

    def __init__(self, parent=None):
        super().__init__(parent)
        self.setViewMode(QListView.IconMode)
        self.setIconSize(THUMB)
        self.setGridSize(QSize(THUMB.width() + 14, THUMB.height() + 30))
        self.setResizeMode(QListView.Adjust)
        self.setMovement(QListView.Static)
        self.setWrapping(True)
        self.setUniformItemSizes(True)
        self.setFocusPolicy(Qt.NoFocus)       # arrow keys turn the player, not the selection
        self.itemClicked.connect(lambda item: self.chosen.emit(item.data(Qt.UserRole)))

    def fill(self, entries: list[tuple[str, str, Path]]) -> None:
        """entries: (label, reference to send, path for the thumbnail)."""
        self.clear()
        for label, ref, path in entries:
            item = QListWidgetItem(QIcon(thumbnail(path)), label)
            item.setData(Qt.UserRole, ref)
            item.setToolTip(str(path))
            self.addItem(item)

    def select(self, ref: str | None) -> None:
        for i in range(self.count()):
            self.item(i).setSelected(self.item(i).data(Qt.UserRole) == ref)


class GalleryPanel(QWidget):
    seed_chosen = Signal(str)
    world_chosen = Signal(str)
    open_requested = Signal()
    save_requested = Signal()

    def __init__(self, parent=None):
        super().__init__(parent)
        self.worlds = QComboBox()
        self.worlds.setFocusPolicy(Qt.NoFocus)
        self.worlds.activated.connect(lambda i: self.world_chosen.emit(self.worlds.itemData(i)))
        self.pack_list, self.user_list = SeedList(), SeedList()
        self.pack_list.chosen.connect(self.seed_chosen)
        self.user_list.chosen.connect(self.seed_chosen)
        self.rng = QLineEdit()
        self.rng.setPlaceholderText("random")
        self.rng.setToolTip("Random seed for the next scene: blank draws one (shown here once drawn)")
        self.rng.returnPressed.connect(self.rng.clearFocus)
        self.drawn = QLabel("")
        self.drawn.setObjectName("sectionTitle")
        self.drawn.setWordWrap(True)
        self.pack_hint = QLabel("This world has no scene seeds yet.")
        self.pack_hint.setObjectName("sectionTitle")
        self.pack_hint.hide()
        open_button = QPushButton(icon("open"), "Open image…")
        open_button.setFocusPolicy(Qt.NoFocus)
        open_button.clicked.connect(self.open_requested)
        save_button = QPushButton("Save frame")
        save_button.setToolTip("Save the current frame as one of your scenes")
        save_button.setFocusPolicy(Qt.NoFocus)
        save_button.clicked.connect(self.save_requested)
        self.empty_hint = QLabel("Drop a .png, .jpg or .npz here,\nor open one, to start from it.")
        self.empty_hint.setObjectName("sectionTitle")
        self.copied = QLabel("")                  # what was copied into the user's scenes, and where
        self.copied.setObjectName("sectionTitle")
        self.copied.setWordWrap(True)
        self.copied.hide()
        self.setLayout(self._layout(open_button, save_button))

    def _layout(self, open_button, save_button) -> QVBoxLayout:
        rng_row = QHBoxLayout()
        rng_row.addWidget(QLabel("Random seed"))
        rng_row.addWidget(self.rng, 1)
        buttons = QHBoxLayout()
        buttons.addWidget(open_button)
        buttons.addWidget(save_button)
        layout = QVBoxLayout()
        layout.setContentsMargins(8, 4, 8, 8)
        layout.addWidget(_title("WORLD"))
        layout.addWidget(self.worlds)
        layout.addWidget(_title("SCENES"))
        layout.addWidget(self.pack_hint)
        layout.addWidget(self.pack_list, 3)
        layout.addWidget(_title("YOUR SCENES"))
        layout.addWidget(self.user_list, 2)
        layout.addWidget(self.empty_hint)
        layout.addWidget(self.copied)
        layout.addLayout(buttons)
        layout.addLayout(rng_row)
        layout.addWidget(self.drawn)
        return layout

    def set_worlds(self, worlds: dict[str, str], current: str) -> None:
        """worlds: id -> what to open it by (id or folder)."""
        self.worlds.clear()
        for world_id, ref in worlds.items():
            self.worlds.addItem(world_id, ref)
        self.worlds.setCurrentIndex(max(0, self.worlds.findText(current)))
        self.worlds.setEnabled(len(worlds) > 1)

    def set_pack_seeds(self, seeds) -> None:
        self.pack_list.fill([(name, name, path) for name, path in seeds])
        self.pack_hint.setVisible(not seeds)

    def set_user_seeds(self, folder: Path) -> None:
        files = user_seed_files(folder)
        self.user_list.fill([(p.stem, str(p), p) for p in files])
        self.empty_hint.setVisible(not files)

    def note_copied(self, source: Path, kept: Path) -> None:
        """A seed opened from elsewhere was copied into the user's scenes: say so, and where."""
        self.copied.setText(f"{source.name} was copied into your scenes as {kept.name}, "
                            "so it is here next time")
        self.copied.setToolTip(f"{source}\n→ {kept}")
        self.copied.show()

    def rng_value(self) -> tuple[int | None, str | None]:
        """(number or None for random, error line)."""
        text = self.rng.text().strip()
        if not text:
            return None, None
        if text.isdigit() and int(text) < 2 ** 63:
            return int(text), None
        return None, f"Seed must be a whole number 0…2^63, got {text!r}: drawing one"

    def show_drawn(self, number: int) -> None:
        self.drawn.setText(f"This scene's seed: {number} (type it above to replay it)")


def _title(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionTitle")
    return label
