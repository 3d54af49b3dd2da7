"""Training logs where ML tools read them: `<run>/<stage>.jsonl`, one JSON object a line
(step, loss, lr, wall seconds), and `<run>/<stage>_loss.png`, the loss curve by matplotlib.

Lines are appended (a resumed stage continues its file); a line cut short by a crash is
skipped on reading, so the log never stops a run or a plot.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

FLUSH_EVERY = 25                 # lines held before they are appended to the file


class TrainLog:
    def __init__(self, run: Path, stage: str):
        self.path = Path(run) / f"{stage}.jsonl"
        self.stage = stage
        self._lines: list[str] = []
        self._t0 = time.monotonic()

    def add(self, step: int, loss: float, lr: float) -> None:
        self._lines.append(json.dumps({"step": step, "loss": round(loss, 6), "lr": lr,
                                       "seconds": round(time.monotonic() - self._t0, 2)}))
        if len(self._lines) >= FLUSH_EVERY:
            self.flush()

    def flush(self) -> None:
        if self._lines:
            self.path.parent.mkdir(parents=True, exist_ok=True)    # before the first checkpoint makes it
            with open(self.path, "a", encoding="utf-8") as f:
                f.write("\n".join(self._lines) + "\n")
            self._lines = []

    def close(self) -> Path | None:
        """Flush, and draw the loss curve beside the log (None without matplotlib)."""
        self.flush()
        return plot_losses(self.path, self.path.with_name(f"{self.stage}_loss.png"), self.stage)


def read_log(path: Path) -> list[dict]:
    rows = []
    for line in Path(path).read_text(encoding="utf-8").splitlines():
        try:
            rows.append(json.loads(line))
        except ValueError:       # the last line of a run that was killed mid-write
            continue
    return rows


def plot_losses(log: Path, out: Path, stage: str) -> Path | None:
    try:
        from matplotlib.figure import Figure
    except ImportError:
        return None
    rows = read_log(log)
    if not rows:
        return None
    steps = [r["step"] for r in rows]
    losses = [r["loss"] for r in rows]
    fig = Figure(figsize=(6.5, 4), layout="constrained")
    ax = fig.add_subplot()
    ax.plot(steps, losses, lw=0.6, alpha=0.4, label="loss per step")
    k = max(1, len(losses) // 50)
    smooth = [sum(losses[max(0, i - k):i + 1]) / len(losses[max(0, i - k):i + 1]) for i in range(len(losses))]
    ax.plot(steps, smooth, lw=1.5, label=f"running mean of {k + 1}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("training loss")
    ax.set_yscale("log")
    ax.set_title(f"{stage}: training loss")
    ax.legend()
    tmp = out.with_name(out.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110)
    tmp.replace(out)
    return out
