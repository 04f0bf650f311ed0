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

from stackgame.environment.scenario import TRIGGERS, builtin_names, resolve
from stackgame.strategies.registry import all_strategies
from stackgame.viz.components import (
    CashPlot,
    ConcentrationPlot,
    EventLog,
    MarginPlot,
    PageModel,
    StackNetwork,
    ValueSharePlot,
)

SCENARIO = "ai-stack-2026"
SEED = os.environ.get("STACKGAME_VIZ_SEED", "42")
"""The seed box's first value (``stackgame viz --seed K`` sets it)."""
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
COMPONENTS = [StackNetwork, EventLog, ValueSharePlot, MarginPlot, ConcentrationPlot, CashPlot]
NAME = "stackgame: who wins the AI stack?"


def new_model() -> PageModel:
    """A model built from the controls' first values."""
    return PageModel(**initial_kwargs(MODEL_PARAMS))


def stack_viz(model: PageModel) -> Any:
    """The SolaraViz element of the page for ``model``."""
    return SolaraViz(
        model, components=COMPONENTS, model_params=MODEL_PARAMS, name=NAME, play_interval=400
    )


model = new_model()
page = stack_viz(model)
"""The page as in Mesa's examples (one model; what a notebook displays)."""


@solara.component
def Page() -> Any:
    """What ``solara run`` serves: the same page, with a model of its own per browser tab.

    A module-level model is shared by every visitor of a server; here each session
    builds its own, so two analysts on one server do not step each other's model.
    """
    session_model = solara.use_memo(new_model, [])
    return stack_viz(session_model)
