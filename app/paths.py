"""Where the player keeps things: config, user seeds, recordings (platformdirs).

One object so tests can point every folder at a temporary directory.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

APP = "reverie"


@dataclass(frozen=True)
class AppPaths:
    config_dir: Path                # settings.json (window, bindings, steps, backend, ...)
    data_dir: Path                  # seeds/ (the user's own scene seeds)
    videos_dir: Path                # recordings and screenshots

    @staticmethod
    def default() -> "AppPaths":
        import platformdirs
        return AppPaths(config_dir=Path(platformdirs.user_config_dir(APP, appauthor=False)),
                        data_dir=Path(platformdirs.user_data_dir(APP, appauthor=False)),
                        videos_dir=Path(platformdirs.user_videos_dir()) / "Reverie")

    @staticmethod
    def under(root: Path) -> "AppPaths":
        root = Path(root)
        return AppPaths(root / "config", root / "data", root / "videos")

    @property
    def settings_file(self) -> Path:
        return self.config_dir / "settings.json"

    @property
    def seeds_dir(self) -> Path:
        return self.data_dir / "seeds"

    def timestamped(self, suffix: str, prefix: str = "reverie") -> Path:
        """A new file name in the videos folder: reverie-20250101-120000.mp4 (never reused)."""
        stamp = time.strftime("%Y%m%d-%H%M%S")
        path = self.videos_dir / f"{prefix}-{stamp}{suffix}"
        n = 2
        while path.exists() or path.with_suffix(".json").exists():
            path = self.videos_dir / f"{prefix}-{stamp}-{n}{suffix}"
            n += 1
        return path
