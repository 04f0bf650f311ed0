"""The headline figure's legend sits beside the axes, covering none of the points."""

from __future__ import annotations

from pathlib import Path

import pytest

from stackgame.experiments.batch_report import load_batch, plot_headline
from tests.stackgame.experiments.test_batch import RAW, fake_run
from tests.stackgame.experiments.test_batch_report import batch


def test_the_legend_overlaps_no_axes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from matplotlib.figure import Figure

    raw = {**RAW, "report": {"x": "regulator.stance", "facet": "demand.growth"}}
    data = load_batch(batch(tmp_path, raw, fake_run))
    seen: list[dict[str, object]] = []
    save = Figure.savefig

    def measure(fig: Figure, *args: object, **kwargs: object) -> None:
        save(fig, *args, **kwargs)  # lays the figure out, as written
        renderer = fig.canvas.get_renderer()  # type: ignore[attr-defined]
        seen.append(
            {
                "legends": [lg.get_window_extent(renderer) for lg in fig.legends],
                "entries": [len(lg.get_texts()) for lg in fig.legends],
                "axes": [ax.get_window_extent(renderer) for ax in fig.axes],
                "figure": fig.bbox,
            }
        )

    monkeypatch.setattr(Figure, "savefig", measure)
    assert plot_headline(data, tmp_path) is not None
    (drawn,) = seen
    (box,) = drawn["legends"]  # type: ignore[misc]
    assert drawn["entries"][0] >= 1  # type: ignore[index]
    assert len(drawn["axes"]) >= 1  # type: ignore[arg-type]
    for axes_box in drawn["axes"]:  # type: ignore[attr-defined]
        assert not box.overlaps(axes_box), "the legend covers a panel"
    page = drawn["figure"]
    assert page.contains(box.x0, box.y0) and page.contains(box.x1, box.y1)  # type: ignore[attr-defined]
