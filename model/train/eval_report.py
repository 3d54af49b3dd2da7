"""The eval report in words: a few lines for the terminal, and `report.md` with the tables
and figures, ready to paste into the README."""
from __future__ import annotations

from model.train.eval_memory import RETURN_UNITS

SETS = (("seen_maps", "seen maps"), ("unseen_maps", "unseen maps"))
CAPTIONS = {
    "lookback_contact_sheet": "Look-around from a held-out start: start, turned away, back. Top: engine; bottom: model.",
    "long_contact_sheet": "Every 30 s of the long rollout. Top: engine (explorer); bottom: model on the same keys.",
}


def _f(x, fmt: str = ".2f") -> str:
    return "—" if x is None else format(x, fmt)


TEXT = ("{key:<12} h={h:<4} PSNR {psnr:6.2f} dB (copy-last {copy_psnr:6.2f}, ceiling {ceiling_psnr:6.2f})  "
        "SSIM {ssim:.3f} (copy {copy_ssim:.3f})  sharpness {sharpness_ratio:.2f} (ceiling {ceiling_sharpness_ratio:.2f})",
        "{key:<12} teacher-forced h=1 PSNR {psnr:.2f} dB (copy-last {copy_psnr:.2f}) over {windows} windows")
TABLE = ("| {label} | {h} | {psnr:.2f} ({copy_psnr:.2f}) | {ceiling_psnr:.2f} | {ssim:.3f} ({copy_ssim:.3f}) | "
         "{sharpness_ratio:.3f} ({ceiling_sharpness_ratio:.3f}) |",
         "| {label} | 1, teacher-forced ({windows} windows) | {psnr:.2f} ({copy_psnr:.2f}) | | | |")


class _Missing(float):
    """A figure the world does not have (a pixel-space world has no tokenizer ceiling)."""

    def __format__(self, spec: str) -> str:
        return "—"


def _psnr_lines(report: dict, templates: tuple[str, str]) -> list[str]:
    """One line per set and horizon, then the set's teacher-forced line."""
    lines = []
    for key, label in SETS:
        if key not in report:
            continue
        for h, r in report[key]["horizons"].items():
            r = {k: _Missing() if v is None else v for k, v in r.items()}
            lines.append(templates[0].format(key=key, label=label, h=h, **r))
        if report[key].get("teacher_forced"):
            lines.append(templates[1].format(key=key, label=label, **report[key]["teacher_forced"]))
    return lines


def summary(report: dict) -> str:
    """The headline figures as a few lines of text."""
    lines = _psnr_lines(report, TEXT)
    for name, r in report.get("action_response", {}).items():
        lines.append(f"response {name:<13} model/engine {_f(r.get('ratio_median'), '.3f')}  right direction "
                     f"{_f(r.get('right_direction'), '.0%')}  ({r.get('segments_moving', 0)} of {r['segments']} segments)")
    if "memory" in report:
        m = report["memory"]
        lines.append(f"look-back engine {_f(m['engine_lookback_db'])} dB, model {_f(m['model_lookback_db'])} dB "
                     f"(turn model/engine {_f(m['turn_ratio'], '.3f')}); revisit engine {_f(m['engine_revisit_db'])} dB, "
                     f"model {_f(m['model_revisit_db'])} dB (walk model/engine {_f(m.get('walk_ratio'), '.3f')}); "
                     f"where the engine comes back engine {_f(m.get('engine_returned_revisit_db'))} dB, "
                     f"model {_f(m.get('model_returned_revisit_db'))} dB ({m.get('returned_runs', 0)} runs)")
    if "long" in report:
        lo = report["long"]
        marks = ", ".join(f"{k} {v:.3f}" for k, v in lo["sharpness_ratio"].items()) or "no mark reached"
        turn = lo["turn_at_end"]
        answer = ", ".join(f"{side} {_f(turn[side]['ratio'], '.3f')}" for side in ("left", "right") if side in turn)
        lines.append(f"long rollout ({lo['steps']} steps): sharpness {marks}; colours in range "
                     f"{lo['colour_in_real_range']:.0%}; turn at the end, model/engine {answer or 'not measured'}")
    return "\n".join(lines)


def markdown(report: dict) -> str:
    parts = [f"# Eval of `{report['world']}` against the engine ({report['date']})",
             f"`{report['command']}`  \nbackend {report['backend']}, sampler {report['sampler']}, "
             f"{report['context']} seed frames; {report.get('hardware', '')}"]
    parts += [_psnr_section(report), _response_section(report.get("action_response", {}))]
    if "memory" in report:
        parts.append(_memory_section(report["memory"]))
    if "long" in report:
        parts.append(_long_section(report["long"]))
    parts += [f"![{name}]({file})" + (f"  \n{CAPTIONS[name]}" if name in CAPTIONS else "")
              for name, file in report.get("figures", {}).items()]
    return "\n\n".join(p for p in parts if p) + "\n"


def _psnr_section(report: dict) -> str:
    return "\n".join(["## PSNR on held-out trajectories (mean squared error over the set)", "",
                      "| set | horizon | PSNR dB (copy-last) | tokenizer ceiling dB | SSIM (copy) | "
                      "sharpness ratio (ceiling) |", "|---|---|---|---|---|---|"] + _psnr_lines(report, TABLE))


def _response_section(response: dict) -> str:
    if not response:
        return ""
    rows = ["## Action response (optical flow over the held tics; median over segments)", "",
            "| motion | engine | model | model ÷ engine (quartiles) | right direction | segments (engine moved) |",
            "|---|---|---|---|---|---|"]
    for name, r in response.items():
        if not r.get("segments"):
            continue
        q = r["ratio_quartiles"]
        rows.append(f"| {name.replace('_', ' ')} | {_f(r['engine_motion'], '.3f')} {r['unit']} | "
                    f"{_f(r['model_motion'], '.3f')} {r['unit']} | {_f(r['ratio_median'], '.3f')} "
                    f"({_f(q[0], '.3f')}–{_f(q[1], '.3f')}) | {_f(r['right_direction'], '.0%')} | "
                    f"{r['segments']} ({r['segments_moving']}) |")
    return "\n".join(rows)


def _memory_section(m: dict) -> str:
    return "\n".join([
        "## Look-back and revisit (PSNR(final, start) − PSNR(away, start), top 70 rows, 40 dB cap; median)", "",
        "| test | engine dB | model dB | runs |", "|---|---|---|---|",
        f"| look back (turn ~90° and back) | {_f(m['engine_lookback_db'])} | {_f(m['model_lookback_db'])} | "
        f"{m['lookback_runs']} |",
        f"| revisit (2 s forward, 2 s back) | {_f(m['engine_revisit_db'])} | {_f(m['model_revisit_db'])} | "
        f"{m['revisit_runs']} |",
        f"| revisit where the engine comes back (within {RETURN_UNITS:.0f} units; of {m.get('returned_tried', '–')} "
        f"starts tried) | {_f(m.get('engine_returned_revisit_db'))} | {_f(m.get('model_returned_revisit_db'))} | "
        f"{m.get('returned_runs', 0)} |", "",
        f"The turn away: engine {_f(m['engine_turn_px'], '.1f')} px, model {_f(m['model_turn_px'], '.1f')} px "
        f"(model ÷ engine {_f(m['turn_ratio'], '.3f')}); the walk forward's zoom, model ÷ engine "
        f"{_f(m.get('walk_ratio'), '.3f')}. A frozen picture scores 0 dB and ratios of 0."])


def _long_section(lo: dict) -> str:
    marks = " | ".join(f"{k.replace('_', ' ')}: {v:.3f}" for k, v in lo["sharpness_ratio"].items())
    turn = lo["turn_at_end"]
    answer = "; ".join(f"{side} {_f(t['ratio'], '.3f')}× ({'answers' if t['right_direction'] else 'does not answer'})"
                       for side, t in turn.items() if side in ("left", "right"))
    return "\n".join([
        f"## {lo['steps']}-step rollout under the explorer ({lo['map']})", "",
        f"- sharpness, model ÷ engine over the 10 s up to each mark (2 s for horizon 100): {marks or 'no mark reached'}",
        f"- frames with mean colours in the real range: {lo['colour_in_real_range']:.0%}",
        f"- turning at the end, model ÷ engine (answers: the right way, by at least 10% of the engine's turn): "
        f"{answer or 'not measured'}"])
