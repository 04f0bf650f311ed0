"""FirmAgent: a thin Mesa agent that holds a strategy and its history."""

from __future__ import annotations

import numpy as np
from stackgame.environment.model import StackModel
from stackgame.environment.scenario import from_dict
from stackgame.strategies.base import Action, Integration, Move, Posture

from tests.environment.tiny_scenario import Scripted, firm, tiny


def _model() -> StackModel:
    raw = tiny(rounds=3)
    firm(raw, "appco")["cash"] = 1000.0
    return StackModel(from_dict(raw), 0)


def test_firm_agent_fields_and_history() -> None:
    model = _model()
    app = model.firms[3]
    assert (app.name, app.label, app.index) == ("appco", "appco", 3)
    assert app.layers == ("apps",)
    assert app.cash == 1000.0 and app.active
    assert app.unique_id == 4 and app.model is model
    model.run()
    model.release()
    assert len(app.postures) == len(app.payoffs) == len(app.margins) == len(app.markups) == 3
    np.testing.assert_allclose(app.payoffs, model.history.firms_matrix("value")[:, 3])
    assert app.cash == float(model.state.cash[3])


def test_decide_asks_the_strategy_and_remember_appends() -> None:
    model = _model()
    app = model.firms[3]
    spy = Scripted([Action.uniform(Posture.EXTRACT)])
    app.set_strategy(spy)
    obs = model.observe()[3]
    assert app.decide(obs).default is Posture.EXTRACT
    assert spy.seen == [obs]
    app.remember(Posture.EXTRACT, 1.5, 0.2, 0.5)
    assert app.postures == (Posture.EXTRACT,) and app.payoffs == (1.5,)
    model.release()


def test_set_strategy_keeps_the_firms_generator() -> None:
    model = _model()
    app = model.firms[3]
    rng = app.strategy_rng
    spy = Scripted()
    app.set_strategy(spy)
    assert app.strategy is spy and spy.rng is rng
    model.release()


def test_an_acquired_firm_is_inactive_and_stops_deciding() -> None:
    model = _model()
    buyer = model.firms[3]
    target = model.firms[2]
    buyer.set_strategy(Scripted([Action(integration=Integration(Move.BUY, target="cloudco"))]))
    model.run()
    model.release()
    assert not target.active
    assert target.layers == ()
    assert buyer.layers == ("cloud", "apps")
    assert len(target.postures) == 1  # it played round 0 only


def test_agent_reporters_give_mesas_agent_dataframe_equal_to_mesas_own_collect() -> None:
    import warnings

    import mesa
    from stackgame.agents.firm import AGENT_REPORTERS, agent_reporters

    model = StackModel("ai-stack-2026", 2, rounds=10)
    # Mesa's own collector with the same reporters, called at the same moment each round
    reference = mesa.DataCollector(agent_reporters=agent_reporters())
    collect = model.datacollector.collect

    def both(m: StackModel) -> None:
        collect(m)
        reference.collect(m)

    model.datacollector.collect = both  # type: ignore[method-assign]
    model.run()
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "No agent reporters have been defined"
        frame = model.datacollector.get_agent_vars_dataframe()
    want = reference.get_agent_vars_dataframe()
    assert list(frame.columns) == list(AGENT_REPORTERS)
    assert frame.shape == (10 * len(model.firms), len(AGENT_REPORTERS))
    assert frame.equals(want)
    # the values are the engine's: last round's row of each firm, from its history
    last = frame.xs(10, level="Step")
    for f in model.firms:
        row = last.loc[f.unique_id]
        if model.state.failed_round[f.index] >= 0:  # a failed firm's payoffs stop there
            continue
        assert row["value"] == f.payoffs[-1] and row["posture"] == int(f.postures[-1])
        assert row["cash"] == model.history.firms_matrix("cash")[-1, f.index]
        assert row["capacity"] > 0 and row["capital"] > 0
    model.release()
