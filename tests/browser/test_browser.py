"""The SolaraViz page in a real browser: loads offline, steps, and reacts to the controls.

Each test opens a fresh tab (a new Solara session with a model of its own) on the one
server of this module; screenshots go to ``runs/out/screenshots/``.
"""

from __future__ import annotations

import pytest
from stackgame.environment.scenario import resolve

pytestmark = pytest.mark.browser

ROUND = ".stackgame-round"
VALUE_SHARE = ".stackgame-value-share"
CHARTS = (
    "network",
    "value share by layer",
    "margins by layer",
    "concentration by layer",
    "cash by firm",
    "money flows by kind",
    "buildout by firm",
)
TITLE = "stackgame: who wins the AI stack?"


def chart(page, name):
    """The canvas ECharts draws the chart ``name`` on."""
    return page.locator(f'[data-chart="{name}"] canvas').first


def wait_round(page, n):
    page.locator(ROUND, has_text=f"Round {n}").wait_for(timeout=45_000)  # a busy machine


def step(page, to):
    page.get_by_role("button", name="Step").click()
    wait_round(page, to)


def reset(page):
    page.get_by_role("button", name="Reset").click()
    wait_round(page, 0)


def choose(page, label, value):
    """Pick ``value`` in the Vuetify select labelled ``label``."""
    field = page.get_by_label(label, exact=True)
    page.locator(".v-select", has=field).locator(".v-select__slot").click()
    page.get_by_role("option", name=value, exact=True).click()
    page.locator(".v-select", has=field).get_by_text(value, exact=True).wait_for()


def test_page_loads_offline_with_mesas_controls(visit, server):
    page = visit.page
    assert page.locator(ROUND).inner_text() == "Round 0"
    for name in ("Reset", "Step"):
        assert page.get_by_role("button", name=name).is_visible()
    assert page.get_by_role("button", name="\u25b6").is_visible()  # Play
    assert page.get_by_text("Model Parameters").is_visible()
    for label in ("Scenario", "Seed (integer)", "Nvidia strategy", "TSMC strategy"):
        assert page.get_by_label(label, exact=True).count() == 1
    assert page.get_by_text("Event log").is_visible()
    for name in CHARTS:
        canvas = chart(page, name)
        canvas.wait_for()
        assert canvas.evaluate("c => c.width > 100 && c.height > 100")
    visit.screenshot("loaded.png")
    assert visit.external == [], "the page asked for assets outside 127.0.0.1"
    assert "Could not load URL" not in server.log_text(), "the server fetched from a CDN"


def test_step_advances_the_round_and_changes_the_plots(visit):
    page = visit.page
    plots = [chart(page, name) for name in CHARTS]
    for plot in plots:
        plot.wait_for()
    before = [plot.screenshot() for plot in plots]
    step(page, 1)
    step(page, 2)
    page.wait_for_timeout(300)  # let the charts draw
    after = [plot.screenshot() for plot in plots]
    assert all(a != b for a, b in zip(after, before, strict=True))
    assert page.locator(VALUE_SHARE).inner_text().startswith("Value share so far: ")
    visit.screenshot("after-two-steps.png")


def test_a_seats_strategy_then_reset_and_step_changes_the_outcome(visit):
    page = visit.page
    step(page, 1)
    default = page.locator(VALUE_SHARE).inner_text()
    choose(page, "Nvidia strategy", "always_extract")
    reset(page)
    step(page, 1)
    changed = page.locator(VALUE_SHARE).inner_text()
    visit.screenshot("nvidia-always-extract.png")
    assert changed != default
    assert visit.external == []


def test_the_page_reads_right_named_with_values_on_its_controls(visit):
    """A screenshot of the whole page: the title in Mesa's app bar, no "PAGE 0" tab, every
    slider showing its value, the CLI's seed, and the legend of the network."""
    page = visit.page
    assert page.locator(".v-toolbar__title", has_text=TITLE).is_visible()
    assert page.get_by_role("tab").count() == 0
    assert page.get_by_text("Page 0", exact=True).count() == 0
    assert page.get_by_label("Seed (integer)", exact=True).input_value() == "0"
    values = page.locator(".v-slider__thumb-label")
    shown = [v.inner_text() for v in values.all() if v.is_visible()]
    growth = resolve("ai-stack-2026").demand.growth  # fitted: the slider shows 2 decimals
    # play (ms), render (steps), stance, growth
    assert shown[:4] == ["101", "1", "0.5", f"{growth:.2f}"]
    legend = page.locator(".stackgame-legend").inner_text()
    for entry in ("restrain", "extract", "mixed", "investigated", "loss so far",
                  "integrated firm", "supply ($ bn per round)", "own supply"):  # fmt: skip
        assert entry in legend
    for name in CHARTS:
        chart(page, name).wait_for()
    step(page, 1)
    page.wait_for_timeout(300)
    path = visit.screenshot("page.png")
    assert path.stat().st_size > 50_000  # a drawn page, not a blank one
    assert visit.external == []
