"""The SolaraViz page rendered in-process, as Mesa tests its own SolaraViz.

``solara.render`` builds the widget tree without a browser; the sidebar (Mesa's controls
and model parameters) lives in Solara's sidebar portal, which :func:`Page` renders next to
the page so that the buttons and selects can be found and clicked.
"""

from __future__ import annotations

import warnings

import ipyvuetify as vw
import pytest
import solara
from solara.components.applayout import sidebar_portal
from solara.widgets import HTML
from stackgame.environment.scenario import ScenarioError, builtin_names, resolve
from stackgame.strategies.registry import all_strategies

with warnings.catch_warnings():  # Mesa 3.3.1's ComponentsView trips Solara's hook check
    warnings.simplefilter("ignore", UserWarning)
    from mesa.visualization.solara_viz import _check_model_params

    import stackgame.viz.app as app
    from stackgame.viz.components import (
        PageModel,
        value_share_line,
    )

from stackgame.viz.echarts import EchartsChart

pytestmark = pytest.mark.filterwarnings("ignore:.*ComponentsView. .use_state. found:UserWarning")


@solara.component
def Page():
    sidebar = sidebar_portal.use_portal()
    return solara.Column(children=[solara.Column(children=sidebar), app.Page()])


@pytest.fixture
def page():
    _, rc = solara.render(Page(), handle_error=False)
    yield rc
    rc.close()


def html_texts(rc, css_class):
    return [
        w.widget.unsafe_innerHTML
        for w in rc.find(HTML)
        if w.widget.attributes.get("class") == css_class
    ]


def charts(rc):
    """Chart name -> its ECharts option, as the page sends it."""
    return {w.widget.attributes["data-chart"]: w.widget.option for w in rc.find(EchartsChart)}


def click(rc, label):
    rc.find(vw.Btn, children=[label]).widget.click()


def select(rc, label, value):
    rc.find(vw.Select, label=label).widget.v_model = value


def checkbox(rc, label, value):
    rc.find(vw.Checkbox, label=label).widget.v_model = value


# -- the parameters ------------------------------------------------------------------------


def test_params_pass_mesas_own_check_and_name_real_choices():
    _check_model_params(PageModel.__init__, app.MODEL_PARAMS)
    params = app.MODEL_PARAMS
    assert set(params["scenario"]["values"]) <= set(builtin_names())
    scenario = resolve(params["scenario"]["value"])
    for seat in app.SEATS:
        control = params[f"strategy_{seat}"]
        assert control["type"] == "Select"
        assert set(control["values"]) == set(all_strategies())
        assert control["value"] == scenario.firm(seat).strategy
    for trigger in ("nvidia_value_pricing", "tsmc_long_term_agreements", "custom_silicon_sale"):
        assert params[f"events__{trigger}__enabled"]["type"] == "Checkbox"
        assert params[f"events__{trigger}__round"]["type"] == "Select"
        assert params[f"events__{trigger}__round"]["values"] == list(range(scenario.rounds))
    for name in ("regulator_stance", "demand_growth"):
        assert params[name]["min"] <= params[name]["value"] <= params[name]["max"]


def test_seed_box_text_is_read_as_an_integer():
    from stackgame.environment.model import StackModel

    kwargs = app.initial_kwargs(app.MODEL_PARAMS)
    assert kwargs["seed"] == "0"  # the CLI's default seed: the page's numbers are run's
    as_text, as_int = PageModel(**kwargs), PageModel(**{**kwargs, "seed": 0})
    for m in (as_text, as_int):
        for _ in range(3):
            m.step()
    assert value_share_line(as_text) == value_share_line(as_int)
    assert as_text.seed == 0
    as_text, as_int = PageModel(**{**kwargs, "seed": "42"}), PageModel(**{**kwargs, "seed": 42})
    as_text.step(), as_int.step()
    assert value_share_line(as_text) == value_share_line(as_int)
    with pytest.raises(ScenarioError, match=r"seed: must be an integer \(got 'forty-two'\)"):
        StackModel(**{**kwargs, "seed": "forty-two"})


# -- what the page reads from the model -----------------------------------------------------


def test_mesa_style_page_element_renders():
    box, rc = solara.render(app.page, handle_error=False)
    assert html_texts(rc, "stackgame-round") == [f"Round {app.model.round}"]
    rc.close()


# -- the page, rendered ------------------------------------------------------------------------


def test_page_has_mesas_controls_and_one_select_per_seat(page):
    buttons = [b.widget.children[0] for b in page.find(vw.Btn)]
    assert {"Reset", "Step"} <= set(buttons)
    assert any(b in ("\u25b6", "\u275a\u275a") for b in buttons)  # Play / Pause
    labels = [w.widget.label for w in page.find(vw.Select)]
    assert "Scenario" in labels
    for seat in app.SEATS:
        assert f"{resolve('ai-stack-2026').firm(seat).label} strategy" in labels
    assert html_texts(page, "stackgame-round") == ["Round 0"]
    assert set(charts(page)) == {"network", "value share by layer", "margins by layer",
                                 "concentration by layer", "cash by firm",
                                 "money flows by kind", "buildout by firm"}  # fmt: skip
    assert "Buildout by firm" in labels


def test_no_page_tab_above_the_stack(page):
    """Mesa's SolaraViz puts its components under a "Page 0" tab: the page lays them out."""
    assert not page.find(vw.Tab)


def test_step_advances_the_round_and_redraws_the_plots(page):
    before = charts(page)
    click(page, "Step")
    assert html_texts(page, "stackgame-round") == ["Round 1"]
    after = charts(page)
    assert set(after) == set(before)
    assert all(after[name] != before[name] for name in before)
    click(page, "Step")
    assert html_texts(page, "stackgame-round") == ["Round 2"]


def test_a_seats_strategy_changes_the_outcome_after_reset(page):
    click(page, "Step")
    default = html_texts(page, "stackgame-value-share")
    select(page, "Nvidia strategy", "always_extract")
    click(page, "Reset")
    assert html_texts(page, "stackgame-round") == ["Round 0"]
    click(page, "Step")
    changed = html_texts(page, "stackgame-value-share")
    assert changed != default


def test_a_trigger_switched_on_shows_in_the_event_log(page):
    checkbox(page, "Trigger nvidia value pricing", True)
    select(page, "nvidia value pricing: in round", 1)
    click(page, "Reset")
    click(page, "Step")
    log = " ".join(w.widget.unsafe_innerHTML or "" for w in page.find(HTML))
    assert "trigger nvidia_value_pricing fired" in log


def test_a_bad_seed_shows_one_line_and_the_page_keeps_working(page):
    seed = page.find(vw.TextField, label="Seed (integer)").widget
    seed.v_model = "forty-two"
    seed.fire_event("focusout", None)  # InputText commits on focus-out or Enter
    click(page, "Reset")
    (error,) = html_texts(page, "stackgame-input-error")
    assert error.startswith("seed: must be an integer (got &#x27;forty-two&#x27;)")
    click(page, "Step")
    assert html_texts(page, "stackgame-round") == ["Round 1"]


# -- what the page reads right: one colour per firm, units, HHI in per cent -----------------


def test_page_matches_the_cli_at_its_default_seed():
    from stackgame.simulation.simulate import simulate

    m = app.new_model()
    while m.running:
        m.step()
    run = simulate("ai-stack-2026", seed=0)
    assert m.seed == run.summary["seed"] == 0
    assert m.history.firms_matrix("profit") == pytest.approx(run.firms["profit"])


def test_sliders_show_their_values():
    assert ".v-slider__thumb-label-container { display: block !important; }" in app.STYLE
