"""`python -m app.screenshot OUT.png`: the player after a few seconds of play, as an image.

Run it under a display (`xvfb-run -s "-screen 0 1280x800x24" python -m app.screenshot OUT.png`).
It walks and turns a little, shows the HUD, and (with --record) the recording indicator and
(with --map, for a geometry world) the map of where the model thinks you have been.
"""
from __future__ import annotations

import sys

from app.tools import player_args, send_key, temp_paths

SCRIPT = [(0, "W", True), (12, "Left", True), (30, "Left", False), (45, "Right", True), (60, "Right", False)]
LOOK = [(0, "Left", True), (20, "Left", False)]         # --look 1: turn on the spot, into what the seed does not show


def main(argv=None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if not argv or argv[0].startswith("-"):
        print("usage: python -m app.screenshot OUT.png [--seed ...] [--frames N] [--rec 1] [--map 1] [--look 1]",
              file=sys.stderr)
        return 2
    out, argv = argv[0], argv[1:]
    args = player_args(argv, "screenshot", frames=(75, "generated frames before the shot"),
                       rec=(0, "1: record while playing, to show the indicator"),
                       map=(0, "1: show the map (Tab)"),
                       look=(0, "1: turn on the spot instead of walking and turning"))
    from PySide6.QtCore import Qt, QTimer

    from app.frame_view import from_qimage
    from app.player import create_window
    from model.play.images import write_png
    paths = temp_paths()
    app, window = create_window(args, paths=paths)
    window.resize(*map(int, args.size.split("x")))
    keys = {"W": Qt.Key_W, "Left": Qt.Key_Left, "Right": Qt.Key_Right}
    state = {"n": 0}

    def on_paint(packet, _ms, _latency):
        if packet.kind != "step":
            return
        n = state["n"] = state["n"] + 1
        if n == 2 and args.rec:
            window.actions_.record.trigger()
        if n == 2 and args.map:
            window.actions_.minimap.trigger()
        for at, key, down in (LOOK if args.look else SCRIPT):
            if n == at + 1:
                send_key(window.view, keys[key], down)
        if n == args.frames:                 # after this paint, not inside it
            QTimer.singleShot(0, lambda: (write_png(out, from_qimage(window.grab().toImage())), window.close()))

    window.view.painted.connect(on_paint)
    window.show()
    window.start()
    app.exec()
    window.close()
    print(f"saved {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
