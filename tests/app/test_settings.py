"""Settings persist as JSON; a broken file or folder never stops the player."""
from __future__ import annotations

import json

from app.settings import Settings, load_settings, save_settings


def test_round_trip(app_paths):
    s = Settings(window_size=(900, 600), steps=3, backend="cpu", muted=True, last_seed="beta", smooth=True)
    s.bindings = {**s.bindings, "USE": ("F",)}
    assert save_settings(s, app_paths.settings_file) is None
    loaded, note = load_settings(app_paths.settings_file)
    assert note is None and loaded == s


def test_broken_or_hostile_files_give_defaults(app_paths):
    path = app_paths.settings_file
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    loaded, note = load_settings(path)
    assert loaded == Settings() and "using defaults" in note
    path.write_text(json.dumps({"steps": 9, "backend": "gpu9000", "window_size": [1, 2], "muted": "yes",
                                "last_seed": 5, "hud": False}))
    loaded, note = load_settings(path)
    assert note is None and loaded == Settings(hud=False)


def test_unwritable_folder_is_an_error_line(tmp_path):
    (tmp_path / "file").write_text("")
    assert "not saved" in save_settings(Settings(), tmp_path / "file" / "settings.json")
