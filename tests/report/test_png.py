"""compact_png against the figure it re-encodes: the same picture to within a few levels, in a
palette file a fraction of the size, and transparency never lost."""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from optimizer.report.png import compact_png
from optimizer.report.study_plots import new_figure


def _figure_png(transparent: bool = False) -> bytes:
    fig, axes = new_figure("a plot", n_rows=2)
    x = np.linspace(0, 10, 200)
    for k, ax in enumerate(axes):
        for j in range(4):
            ax.plot(x, np.sin(x + j) * (k + 1), marker="o", markevery=20, label=f"series {j}")
        ax.legend()
        ax.grid(True)
    out = io.BytesIO()
    fig.savefig(out, format="png", dpi=120, transparent=transparent)
    return out.getvalue()


def _pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        return np.asarray(image.convert("RGBA"), dtype=np.int16)


def test_the_picture_survives_in_a_smaller_palette_file():
    png = _figure_png()
    small = compact_png(png)
    with Image.open(io.BytesIO(small)) as image:
        assert image.mode == "P"  # 8-bit palette
    before, after = _pixels(png), _pixels(small)
    assert before.shape == after.shape
    assert np.abs(before - after).mean() < 1.0  # of 255 levels: the same picture
    assert (np.abs(before - after).max(axis=-1) <= 2).mean() > 0.97  # edges move, not areas
    assert len(small) < 0.6 * len(png)
    assert compact_png(png) == small  # deterministic


def test_a_transparent_figure_is_left_as_it_is():
    png = _figure_png(transparent=True)
    assert compact_png(png) == png
