"""Hand-built inline SVG charts (lines, bars, histograms): no plotting library, nothing fetched."""

from __future__ import annotations

import math
from collections.abc import Sequence
from html import escape

import numpy as np

__all__ = ["PALETTE", "bar_chart", "histogram", "line_chart"]

#: colour-blind-safe palette (Okabe-Ito), one colour per series in turn
PALETTE = ("#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#F0E442", "#000000")

_W, _H, _L, _R, _T, _B = 540, 260, 56, 16, 28, 40  # size and margins (left, right, top, bottom)


def _fmt(v: float) -> str:
    """Short tick label: 3 significant digits, k/M for large values."""
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.3g}M"
    if a >= 1e4:
        return f"{v / 1e3:.3g}k"
    return f"{v:.3g}"


def _ticks(lo: float, hi: float, n: int = 5) -> list[float]:
    """About ``n`` round tick values covering [lo, hi]."""
    if not (math.isfinite(lo) and math.isfinite(hi)) or hi <= lo:
        return [lo]
    raw = (hi - lo) / n
    step = 10 ** math.floor(math.log10(raw))
    step *= next(m for m in (1, 2, 2.5, 5, 10) if m * step >= raw)
    first = math.ceil(lo / step) * step
    return [first + i * step for i in range(int((hi - first) / step + 1e-9) + 1)]


def _frame(title: str, xlabel: str, ylabel: str, body: list[str], width: int, height: int) -> str:
    """The outer <svg> with title, axis labels and ``body``."""
    head = (f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
            f'width="{width}" height="{height}" role="img" aria-label="{escape(title)}">'
            f'<title>{escape(title)}</title>'
            f'<text x="{width / 2}" y="16" text-anchor="middle" font-size="13" font-weight="600">{escape(title)}</text>'
            f'<text x="{width / 2}" y="{height - 6}" text-anchor="middle" font-size="11">{escape(xlabel)}</text>'
            f'<text x="12" y="{height / 2}" text-anchor="middle" font-size="11" '
            f'transform="rotate(-90 12 {height / 2})">{escape(ylabel)}</text>')
    return head + "".join(body) + "</svg>"


def _axes(x0: float, x1: float, y0: float, y1: float, width: int, height: int, *, x_labels: bool = True):
    """Tick marks and grid lines; returns (svg pieces, x->px, y->px)."""
    pw, ph = width - _L - _R, height - _T - _B
    sx = (lambda x: _L + (x - x0) / (x1 - x0) * pw) if x1 > x0 else (lambda x: _L + pw / 2)
    sy = (lambda y: _T + ph - (y - y0) / (y1 - y0) * ph) if y1 > y0 else (lambda y: _T + ph / 2)
    out = ['<g font-size="10" fill="#444" stroke-width="1">']
    for t in _ticks(y0, y1):
        y = sy(t)
        out.append(f'<line x1="{_L}" x2="{_L + pw}" y1="{y:.1f}" y2="{y:.1f}" stroke="#e5e5e5"/>'
                   f'<text x="{_L - 4}" y="{y + 3:.1f}" text-anchor="end">{_fmt(t)}</text>')
    if x_labels:
        for t in _ticks(x0, x1):
            x = sx(t)
            out.append(f'<text x="{x:.1f}" y="{_T + ph + 14}" text-anchor="middle">{_fmt(t)}</text>')
    out.append(f'<line x1="{_L}" x2="{_L}" y1="{_T}" y2="{_T + ph}" stroke="#888"/>'
               f'<line x1="{_L}" x2="{_L + pw}" y1="{_T + ph}" y2="{_T + ph}" stroke="#888"/></g>')
    return out, sx, sy


def _legend(names: Sequence[str], width: int) -> str:
    items = [f'<g transform="translate({_L + 8 + 120 * (i % 4)},{_T + 6 + 14 * (i // 4)})">'
             f'<rect width="10" height="10" fill="{PALETTE[i % len(PALETTE)]}"/>'
             f'<text x="14" y="9" font-size="10">{escape(str(n))[:16]}</text></g>' for i, n in enumerate(names)]
    return "".join(items) if len(names) > 1 else ""


def line_chart(series: dict[str, tuple[Sequence[float], Sequence[float]]], *, title: str, xlabel: str = "",
               ylabel: str = "", width: int = _W, height: int = _H, y_zero: bool = True, points: bool = True) -> str:
    """One polyline per named series of (xs, ys); NaN points are skipped."""
    pts = [(x, y) for xs, ys in series.values() for x, y in zip(xs, ys) if math.isfinite(y) and math.isfinite(x)]
    if not pts:
        return _frame(title + " (no data)", xlabel, ylabel, [], width, height)
    x0, x1 = min(p[0] for p in pts), max(p[0] for p in pts)
    y0, y1 = min(p[1] for p in pts), max(p[1] for p in pts)
    y0 = min(0.0, y0) if y_zero else y0
    y1 = y1 if y1 > y0 else y0 + 1.0
    body, sx, sy = _axes(x0, x1, y0, y1, width, height)
    for i, (name, (xs, ys)) in enumerate(series.items()):
        colour = PALETTE[i % len(PALETTE)]
        xy = [(sx(x), sy(y)) for x, y in zip(xs, ys) if math.isfinite(y) and math.isfinite(x)]
        path = " ".join(f"{a:.1f},{b:.1f}" for a, b in xy)
        body.append(f'<polyline class="series" data-name="{escape(str(name))}" fill="none" stroke="{colour}" '
                    f'stroke-width="2" points="{path}"/>')
        if points and len(xy) <= 40:
            body += [f'<circle cx="{a:.1f}" cy="{b:.1f}" r="2.5" fill="{colour}"/>' for a, b in xy]
    body.append(_legend(list(series), width))
    return _frame(title, xlabel, ylabel, body, width, height)


def bar_chart(labels: Sequence[str], values: Sequence[float], *, title: str, xlabel: str = "", ylabel: str = "",
              width: int = _W, height: int | None = None, colours: Sequence[str] | None = None,
              errors: Sequence[tuple[float, float]] | None = None) -> str:
    """Horizontal bars, one per label, with the value printed; ``errors``: (low, high) interval per bar."""
    height = height or (_T + _B + 22 * max(1, len(labels)))
    finite = [v for v in values if math.isfinite(v)] + [h for _, h in (errors or []) if math.isfinite(h)]
    hi = max([0.0, *finite]) or 1.0
    lo = min([0.0, *finite])
    pw, left = width - 150 - _R - 40, 150
    scale = (lambda v: left + (v - lo) / (hi - lo) * pw)
    body = ['<g font-size="10">']
    for i, (label, v) in enumerate(zip(labels, values)):
        y = _T + 6 + 22 * i
        colour = (colours[i] if colours else PALETTE[0])
        v = v if math.isfinite(v) else 0.0
        x_a, x_b = sorted((scale(0.0), scale(v)))
        body.append(f'<text x="{left - 4}" y="{y + 11}" text-anchor="end">{escape(str(label))[:24]}</text>'
                    f'<rect class="bar" data-label="{escape(str(label))}" data-value="{v:.6g}" x="{x_a:.1f}" '
                    f'y="{y}" width="{max(x_b - x_a, 0.5):.1f}" height="15" fill="{colour}"/>'
                    f'<text x="{max(x_b, scale(errors[i][1]) if errors else x_b) + 3:.1f}" y="{y + 11}">{_fmt(v)}</text>')
        if errors:
            e0, e1 = scale(errors[i][0]), scale(errors[i][1])
            body.append(f'<line x1="{e0:.1f}" x2="{e1:.1f}" y1="{y + 7.5}" y2="{y + 7.5}" stroke="#000" '
                        f'stroke-width="1.5"/>')
    body.append("</g>")
    return _frame(title, xlabel, ylabel, body, width, height)


def histogram(values: Sequence[float], *, title: str, xlabel: str = "", ylabel: str = "count", bins: int = 20,
              width: int = _W, height: int = _H, log_x: bool = False) -> str:
    """Counts of ``values`` in ``bins`` equal-width bins (of log10(1 + v) with ``log_x``)."""
    arr = np.asarray(values, np.float64)
    arr = arr[np.isfinite(arr)]
    vals = np.log10(1 + arr) if log_x else arr
    if not vals.size:
        return _frame(title + " (no data)", xlabel, ylabel, [], width, height)
    lo, hi = float(vals.min()), float(vals.max())
    hi = hi if hi > lo else lo + 1.0
    counts = np.histogram(vals, bins=bins, range=(lo, hi))[0].tolist()
    body, sx, sy = _axes(lo, hi, 0.0, float(max(counts)), width, height, x_labels=not log_x)
    step = (hi - lo) / bins
    for i, c in enumerate(counts):
        xa, xb, yt = sx(lo + i * step), sx(lo + (i + 1) * step), sy(c)
        body.append(f'<rect class="bin" data-count="{c}" x="{xa:.1f}" y="{yt:.1f}" width="{max(xb - xa - 1, 0.5):.1f}" '
                    f'height="{sy(0) - yt:.1f}" fill="{PALETTE[0]}"/>')
    if log_x:  # label the bin edges in the original units
        for t in _ticks(lo, hi, 4):
            body.append(f'<text x="{sx(t):.1f}" y="{height - _B + 14}" text-anchor="middle" font-size="10">'
                        f'{_fmt(10 ** t - 1)}</text>')
    return _frame(title, xlabel, ylabel, body, width, height)
