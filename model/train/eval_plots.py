"""The eval's plots, with matplotlib: PSNR against horizon, action response per motion, and
sharpness over the minutes of the long rollout. Each has units on its axes, a legend and a
title naming the world and the date, so it can go into the README as it is."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure       # not pyplot: no global figure state, no GUI backend

from model.play.world import FPS
from model.train.eval_long import MARKS

RESPONSE_BAND = (0.8, 1.25)                # issue 12's target for model ÷ engine
SHARPNESS_TARGET = 0.6


def save(fig: Figure, path: Path) -> None:
    """Written to a temporary name, then renamed: never half a PNG."""
    tmp = path.with_name(path.stem + ".tmp.png")
    fig.savefig(tmp, dpi=110, format="png")
    os.replace(tmp, path)


def psnr_plot(path: Path, report: dict, title: str) -> None:
    fig = Figure(figsize=(7.5, 5.5), layout="constrained")
    ax = fig.add_subplot()
    for key, label, colour in (("seen_maps", "seen maps", "tab:blue"), ("unseen_maps", "unseen maps", "tab:green")):
        if key not in report:
            continue
        r = report[key]
        steps = np.arange(1, len(r["curve_psnr"]) + 1)
        ax.plot(steps, r["curve_psnr"], color=colour, label=f"model, {label}")
        ax.plot(steps, r["curve_copy_psnr"], color=colour, ls="--", label=f"copy last frame, {label}")
        hs = sorted(int(h) for h in r["horizons"])
        if r["horizons"][str(hs[0])]["ceiling_psnr"] is not None:       # pixel-space worlds have none
            ax.plot(hs, [r["horizons"][str(h)]["ceiling_psnr"] for h in hs], color=colour, ls=":", marker="o",
                    label=f"tokenizer ceiling, {label}")
        if "teacher_forced" in r:
            ax.plot([1], [r["teacher_forced"]["psnr"]], color=colour, marker="*", ms=12, ls="none",
                    label=f"teacher-forced horizon 1, {label}")
    ax.set_xlabel("horizon (steps of 40 ms)")
    ax.set_ylabel("PSNR (dB), mean squared error over the set")
    seconds = ax.secondary_xaxis("top", functions=(lambda s: s / FPS, lambda t: t * FPS))
    seconds.set_xlabel("horizon (s)")
    ax.grid(alpha=0.3)
    fig.legend(loc="outside lower center", fontsize=7, ncol=2)     # below the axes: off the curves
    ax.set_title(f"{title}: PSNR against the engine")
    save(fig, path)


def response_plot(path: Path, response: dict, title: str) -> None:
    """Model ÷ engine view motion per motion (median, quartiles), the target band, and the
    share of segments in the right direction above each bar."""
    names = [n for n, r in response.items() if r.get("ratio_median") is not None]
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    ax.axhspan(*RESPONSE_BAND, color="tab:green", alpha=0.15, label="target 0.8-1.25x")
    ax.axhline(1.0, color="black", lw=1, label="engine (1.0 by definition)")
    med = np.array([response[n]["ratio_median"] for n in names], float)
    q = np.array([response[n]["ratio_quartiles"] for n in names], float).reshape(-1, 2)
    x = np.arange(len(names))
    ax.bar(x, med, color="tab:blue", label="model, median over segments")
    ax.errorbar(x, med, yerr=[med - q[:, 0], q[:, 1] - med], fmt="none", ecolor="gray", capsize=4,
                label="quartiles")
    for i, n in enumerate(names):
        ax.annotate(f"{response[n]['right_direction']:.0%} right\nn={response[n]['segments_moving']}",
                    (i, max(med[i], q[i, 1], 0)), textcoords="offset points", xytext=(0, 4),
                    ha="center", fontsize=7)
    ax.set_xticks(x, [n.replace("_", " ") for n in names])
    ax.set_ylabel("view motion by optical flow, model ÷ engine")
    ax.set_ylim(min(-0.1, float(np.nanmin(q, initial=0)) - 0.1), max(1.6, float(np.nanmax(q, initial=0)) + 0.3))
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")
    ax.set_title(f"{title}: action response")
    save(fig, path)


def sharpness_plot(path: Path, long: dict, title: str) -> None:
    """The sharpness ratio over the rollout, on a log axis (a blur sits at 0.01)."""
    fig = Figure(figsize=(7.5, 4.5), layout="constrained")
    ax = fig.add_subplot()
    curve = long["sharpness_curve"]
    ax.plot(curve["minutes"], np.maximum(curve["ratio"], 1e-4), color="tab:blue", marker=".",
            label=f"model ÷ engine, {curve['window_steps'] / FPS:g} s windows")
    marks = dict(MARKS)
    for name, ratio in long["sharpness_ratio"].items():
        ax.plot([marks[name] / FPS / 60], [max(ratio, 1e-4)], marker="o", color="tab:red", ls="none")
        ax.annotate(f"{name.replace('_', ' ')}: {ratio:.3f}", (marks[name] / FPS / 60, max(ratio, 1e-4)),
                    textcoords="offset points", xytext=(4, 6), fontsize=7)
    ax.axhline(SHARPNESS_TARGET, color="tab:green", ls="--", label=f"target {SHARPNESS_TARGET}")
    ax.axhline(1.0, color="black", lw=1, label="engine")
    ax.set_yscale("log")
    ax.set_xlabel("time into the rollout (minutes)")
    ax.set_ylabel("sharpness (Laplacian variance), model ÷ engine")
    ax.grid(alpha=0.3, which="both")
    ax.legend(fontsize=7)
    ax.set_title(f"{title}: sharpness over a {long['steps'] / FPS / 60:.1f}-minute rollout")
    save(fig, path)
