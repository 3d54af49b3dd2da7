"""What the HUD shows, measured without Qt: paint rate, paint cost, key-to-frame latency, and
for a geometry world how much of the view came from its memory."""
from __future__ import annotations

from collections import deque

import numpy as np

WINDOW_S = 1.0


class HudStats:
    def __init__(self):
        self.paints: deque[float] = deque()            # paint times within the last second
        self.arrivals: deque[float] = deque()          # packet arrival times within the last second
        self.paint_ms: deque[float] = deque(maxlen=100)
        self.latency_ms: deque[float] = deque(maxlen=200)
        self.dropped = 0

    def on_arrival(self, now: float) -> None:
        _push(self.arrivals, now)

    def on_paint(self, now: float, paint_ms: float, event_t: float | None) -> float | None:
        """Record one painted frame; returns its key-to-frame latency (ms) if it was the first to see a key."""
        _push(self.paints, now)
        self.paint_ms.append(paint_ms)
        if event_t is None:
            return None
        latency = (now - event_t) * 1e3
        self.latency_ms.append(latency)
        return latency

    @property
    def fps(self) -> float:
        return _rate(self.paints)

    @property
    def engine_fps(self) -> float:
        return _rate(self.arrivals)

    @property
    def latency_p50(self) -> float | None:
        return float(np.percentile(self.latency_ms, 50)) if self.latency_ms else None

    def lines(self, packet) -> list[str]:
        out = [f"{self.fps:.1f} fps · model {self.engine_fps:.1f} fps"]
        t = getattr(packet, "timings", None)
        if t is not None:
            geometry = getattr(t, "geometry_ms", None)          # a geometry world's depth, motion, warp
            out.append(f"step {t.total_ms:5.1f} ms  dyn {t.dynamics_ms:.1f} · "
                       + (f"geo {geometry:.1f}" if geometry is not None else f"dec {t.decode_ms:.1f}")
                       + f" · other {t.other_ms:.1f}")
        if packet is not None:
            out.append(f"denoise {packet.steps_used}/{packet.steps} steps · {packet.backend}")
        geo = getattr(packet, "geo", None)
        if geo is not None:
            out.append(memory_line(geo))
        if self.latency_ms:
            out.append(f"key→frame {self.latency_ms[-1]:.0f} ms (p50 {self.latency_p50:.0f})")
        else:
            out.append("key→frame –")
        paint = np.mean(self.paint_ms) if self.paint_ms else 0.0
        out.append(f"paint {paint:.1f} ms · dropped {self.dropped}"
                   + (f" · frame {packet.index}" if packet is not None else ""))
        return out


def memory_line(geo) -> str:
    """How much of the view the memory and the map supplied, the atlas imagined and the painter
    made, and how full the memory is."""
    place = f"map {geo.map_share * 100:.0f}%" if geo.located else "map: not located"
    return (f"memory {geo.memory_share * 100:.0f}% · {place} · imagined {geo.imagined_share * 100:.0f}%"
            f" · painted {geo.painted_share * 100:.0f}% of view · keyframes {geo.count}/{geo.capacity}")


def _push(times: deque, now: float) -> None:
    times.append(now)
    while times and now - times[0] > WINDOW_S:
        times.popleft()


def _rate(times: deque) -> float:
    if len(times) < 2:
        return 0.0
    span = times[-1] - times[0]
    return (len(times) - 1) / span if span > 0 else 0.0
