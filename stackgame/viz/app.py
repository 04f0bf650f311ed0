"""The SolaraViz page: the AI stack in the browser.

Run it with ``stackgame viz`` (or ``solara run stackgame.viz.app``). As in Mesa's examples,
this file holds only the portrayal (which components, in which order), the model
parameters and the ``SolaraViz`` call; the components live in
:mod:`stackgame.viz.components` and the drawing in :mod:`stackgame.viz.layout`.

The controls are the model's own keyword parameters (``StackModel`` passes them to
:func:`~stackgame.environment.model.params_to_overrides`): a scenario, the strategy of
each contested seat (``strategy_<firm>``), the regulator's stance, demand growth,
integration on or off, each regime-change trigger on or off with its round
(``events__<trigger>__enabled`` and ``events__<trigger>__round``), and the seed, typed
as text and read as an integer. Change them, then press Reset.
"""

from __future__ import annotations

import os
from typing import Any

import solara
from mesa.visualization import SolaraViz
from mesa.visualization.utils import update_counter

from stackgame.environment.scenario import TRIGGERS, builtin_names, resolve
from stackgame.strategies.registry import all_strategies
from stackgame.viz.components import EventLog, PageModel, SeriesCharts, StackNetwork

SCENARIO = "ai-stack-2026"
SEED = os.environ.get("STACKGAME_VIZ_SEED", "0")
"""The seed box's first value: 0, as ``stackgame run`` (``stackgame viz --seed K`` sets it),
so that the page's numbers are the CLI's. The box holds text; the model reads it as an
integer (``"42"`` and ``42`` would be different streams in Mesa)."""
SEATS = ("nvidia", "tsmc", "google", "aws", "openai", "anthropic")
"""The contested seats: the firms whose strategy the page lets you choose."""


def model_params(
    scenario: str = SCENARIO, seats: tuple[str, ...] = SEATS, seed: str = SEED
) -> dict[str, Any]:
    """The SolaraViz controls, with the scenario's own values as defaults."""
    base = resolve(scenario)
    strategies = list(all_strategies())
    seat_firms = [base.firm(name) for name in seats]
    events = {e.name: e for e in base.events}
    params: dict[str, Any] = {
        "scenario": {
            "type": "Select",
            "value": scenario,
            "values": [n for n in builtin_names() if _has_seats(n, seats)],
            "label": "Scenario",
        },
        "seed": {"type": "InputText", "value": str(seed), "label": "Seed (integer)"},
    }
    for firm in seat_firms:
        params[f"strategy_{firm.name}"] = {
            "type": "Select",
            "value": firm.strategy,
            "values": strategies,
            "label": f"{firm.label} strategy",
        }
    params["regulator_stance"] = {
        "type": "SliderFloat",
        "value": base.regulator.stance,
        "min": 0.0,
        "max": 1.0,
        "step": 0.05,
        "label": "Regulator stance",  # 0 lax .. 1 aggressive; a long label hides the slider
    }
    params["demand_growth"] = {
        "type": "SliderFloat",
        "value": base.demand.growth,
        "min": -0.1,
        "max": 0.3,
        "step": 0.01,
        "label": "Demand growth",  # per round
    }
    params["allow_integration"] = {
        "type": "Checkbox",
        "value": base.allow_integration,
        "label": "Allow vertical integration",
    }
    for name in TRIGGERS:
        if name not in events:
            continue
        params[f"events__{name}__enabled"] = {
            "type": "Checkbox",
            "value": events[name].enabled,
            "label": f"Trigger {name.replace('_', ' ')}",
        }
        params[f"events__{name}__round"] = {  # a select shows its value; a slider does not
            "type": "Select",
            "value": events[name].round,
            "values": list(range(base.rounds)),
            "label": f"{name.replace('_', ' ')}: in round",
        }
    return params


def _has_seats(name: str, seats: tuple[str, ...]) -> bool:
    firms = set(resolve(name).firm_names)
    return all(s in firms for s in seats)


def initial_kwargs(params: dict[str, Any]) -> dict[str, Any]:
    """The keyword arguments the controls start with (what Reset would pass)."""
    return {
        k: (v["value"] if isinstance(v, dict) and "type" in v else v) for k, v in params.items()
    }


MODEL_PARAMS = model_params()
NAME = "stackgame: who wins the AI stack?"
"""The page's title, in Mesa's app bar."""
PLAY_INTERVAL = 101
"""Milliseconds between rounds while playing: Mesa's default of 100, put on the grid of
Mesa's slider (1, 11, ..., 491 ms), which would otherwise show 101 for 100."""

STYLE = """
/* Show every slider's value: Mesa's sliders (the play interval, the model's) leave
   Vuetify's thumb label hidden until dragged, so a slider showed no value. */
.v-slider__thumb-label-container { display: block !important; }
.v-slider__thumb-label { transform: translateY(-20%) translateX(-50%) rotate(45deg) !important; }
.v-slider--horizontal { margin-top: 26px; }
"""


def new_model() -> PageModel:
    """A model built from the controls' first values."""
    return PageModel(**initial_kwargs(MODEL_PARAMS))


@solara.component
def StackPage(model: PageModel | solara.Reactive[PageModel]) -> Any:
    """Mesa's ``SolaraViz`` (app bar, controls, parameters) and the stack's components.

    Mesa 3.3.1's ``SolaraViz`` puts its components under a row of tabs named "Page 0",
    "Page 1", ... (``ComponentsView``), with no way to name them; a one-page app showed a
    lone "PAGE 0" tab above the stack. So ``SolaraViz`` gets no components (it then draws
    no tabs) and the page lays them out itself, under the title in the app bar. Reset
    replaces the model in the reactive variable both share.
    """
    reactive = model if isinstance(model, solara.Reactive) else solara.use_reactive(model)
    solara.Style(STYLE)
    SolaraViz(
        reactive, components=[], model_params=MODEL_PARAMS, name=NAME,
        play_interval=PLAY_INTERVAL,
    )  # fmt: skip
    Dashboard(reactive.value)


@solara.component
def Dashboard(model: PageModel) -> None:
    """The stack's components, redrawn after every step.

    Mesa's step counter is read once, here, and passed down: Solara renders once per
    component that reads it, and a reader higher up (the page) would redraw Mesa's whole
    sidebar with every round.
    """
    counter = update_counter.get()
    with solara.Column(style={"padding": "4px 12px"}):
        with solara.Columns([3, 2], gutters_dense=True):
            StackNetwork(model, counter)
            EventLog(model, counter)
        SeriesCharts(model, counter)


model = new_model()
page = StackPage(model)
"""The page as in Mesa's examples (one model; what a notebook displays)."""


@solara.component
def Page() -> Any:
    """What ``solara run`` serves: the same page, with a model of its own per browser tab.

    A module-level model is shared by every visitor of a server; here each session
    builds its own, so two analysts on one server do not step each other's model.
    """
    session_model = solara.use_memo(new_model, [])
    return StackPage(session_model)
