"""Reverie's world model, in three packages (see docs/design.md, "Layout"):

- `model.play`: what ships. The world session (`model.play.runtime`), its backends, world
  packs, scene seeds, rewind, session files and video. numpy + ONNX Runtime only.
- `model.nets`: the torch networks (tokenizer, dynamics, flow), their checkpoints and the
  PyTorch backend, which `model.play.backends` loads only when asked for.
- `model.train`: making worlds: capture from the engine, datasets, training, export, eval.

Never imports Qt. In the player only the world worker runs a session; the rest of the app
reads packs, seeds, session files and video helpers from `model.play`.
"""
