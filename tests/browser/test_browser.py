"""The SolaraViz page in a real browser: loads offline, steps, and reacts to the controls.

Each test opens a fresh tab (a new Solara session with a model of its own) on the one
server of this module; screenshots go to ``runs/out/screenshots/``.
"""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.browser

ROUND = ".stackgame-round"
VALUE_SHARE = ".stackgame-value-share"
PLOTS = (
    "the stack as a layered network",
    "value share by layer",
    "margins by layer",
    "concentration by layer",
    "cash of the named firms",
)


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
    for alt in PLOTS:
        image = page.locator(f'img[alt="{alt}"]')
        image.wait_for()
        assert image.evaluate("img => img.complete && img.naturalWidth > 100")
    visit.screenshot("loaded.png")
    assert visit.external == [], "the page asked for assets outside 127.0.0.1"
    assert "Could not load URL" not in server.log_text(), "the server fetched from a CDN"


def test_step_advances_the_round_and_changes_the_plots(visit):
    page = visit.page
    plots = [page.locator(f'img[alt="{alt}"]') for alt in PLOTS[1:]]
    before = [plot.screenshot() for plot in plots]
    step(page, 1)
    step(page, 2)
    page.wait_for_timeout(300)  # let the new images decode
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
