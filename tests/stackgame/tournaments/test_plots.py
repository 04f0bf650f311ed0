"""Tournament plots: one figure per view, written as PNG files."""

from __future__ import annotations

import pytest

from stackgame.tournaments import plots
from stackgame.tournaments.tournament import Tournament, TournamentSpec


@pytest.fixture(scope="module")
def result():
    spec = TournamentSpec(("tit_for_tat", "defector", "random"), turns=20, repetitions=3, seed=5)
    return Tournament(spec).play()


def test_each_plot_draws_every_strategy(result):
    names = list(result.ranking["strategy"])
    for name, draw in plots.PLOTS.items():
        fig = draw(result)
        ax = fig.axes[0]
        labels = [t.get_text() for t in ax.get_xticklabels()]
        assert set(names) <= set(labels), name
        assert "3 repetitions, seed 5" in ax.get_title()


def test_payoff_heatmap_shows_the_payoff_matrix(result):
    fig = plots.payoff_heatmap(result)
    image = fig.axes[0].images[0].get_array()
    order = list(result.ranking["strategy"])
    expected = result.payoff_matrix.loc[order, order].to_numpy()
    assert image.shape == expected.shape
    assert (abs(image - expected) < 1e-12).all()


def test_value_share_bars_are_the_ranking_shares(result):
    fig = plots.value_share_plot(result)
    heights = [bar.get_height() for bar in fig.axes[0].patches]
    assert heights == pytest.approx(list(result.ranking["value_share"]))


def test_plot_all_writes_one_png_per_plot(result, tmp_path):
    paths = plots.plot_all(result, tmp_path / "plots")
    assert [p.name for p in paths] == [f"{n}.png" for n in plots.PLOTS]
    for p in paths:
        assert p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
