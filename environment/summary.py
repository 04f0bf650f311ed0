"""Who won the stack: value capture and margins by layer and by firm, from a run's history.

Definitions (all cumulative over the rounds run, dollars):

* ``value_share`` of a layer: its operating profit over the stack's operating profit; of
  a firm: its value (operating profit after equity stakes) over the same total. Both
  sum to 1. When the stack as a whole loses money (a total below 0, as in a deep bust)
  the shares are over the size of the loss, ``|total|``, so that each keeps the sign of
  its profit and the largest share is still the largest profit; they then sum to -1
  (a share of a negative total would flip every sign and crown the largest loser).
* ``spend_share`` of a layer or a firm: its value added (revenue less inputs bought) over
  spending, final spend plus investment (capital goods bought by capital-goods layers,
  ``docs/MODEL.md`` 15); the shares telescope to 1 because each layer's inputs are the
  revenue of the layer below (a firm's self-supply cancels within the firm) and capital
  goods are not an input of the output they equip (value added sums to C + I). The
  infrastructure bought outside the stack with the capital goods (buildings, power:
  ``LayerSpec.infrastructure_cost``) is investment that reaches no firm of the stack:
  it is left out of this spending (value added sums to C + I - infrastructure). Without
  a capital-goods layer investment is 0: the share of final spend.
* ``gross_margin`` = (revenue - inputs - own variable cost) / revenue; ``operating_margin``
  subtracts depreciation, fixed cost and fines too. Margins are on external revenue
  (sales to other firms and to consumers): a firm's self-supply at cost is internal, so it
  neither dilutes a layer's margin nor a firm's.

With the finance section on (``docs/MODEL.md`` 16) a firm's value is after the interest it
paid; interest goes to lenders outside the stack, so the firms' value shares then sum to
a little less than 1: 1 less the ``interest`` paid (in the summary) over the stack's profit.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
from stackgame.environment import targets

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel


TIE_TOLERANCE = 0.005
"""Value shares within half a percentage point of the largest tie for the lead (run and
equilibria alike)."""

EVENT_KINDS = {
    "trigger": "trigger",
    "demand_shock": "demand shock",
    "cost_decline": "cost decline",
    "new_generation": "new hardware generation",
    "set": "change",
}

_ONLINE = re.compile(r"online in round (\d+)")


def leaders(shares: Mapping[str, float], tolerance: float = TIE_TOLERANCE) -> list[str]:
    """The names whose share is within ``tolerance`` of the largest, sorted by name.

    One name is a clear winner; more are a tie. Sorting tied names by name (not by
    share) gives the same words whatever noise separates them, so ``stackgame run`` and
    ``stackgame equilibria`` name a tie alike.
    """
    if not shares:
        return []
    best = max(shares.values())
    return sorted(n for n, v in shares.items() if v >= best - tolerance)


def and_join(names: Sequence[str]) -> str:
    """``a``, ``a and b``, ``a, b and c``."""
    names = list(names)
    if len(names) <= 1:
        return "".join(names)
    return ", ".join(names[:-1]) + " and " + names[-1]


def _ratio(num: float, den: float) -> float:
    return float(num / den) if abs(den) > 1e-12 else 0.0


def _r(x: float) -> float:
    """Round for JSON: stable text; shares still sum to 1 within 1e-8."""
    return round(float(x), 10) + 0.0  # + 0.0 turns -0.0 into 0.0


def regulator_risk(model: StackModel) -> dict[str, Any]:
    """How the investigations ended, and each firm's chance of one over the run.

    ``investigation_probability[f] = 1 - prod_t prod_{i of f} (1 - P_it)``, ``P_it`` the
    hazard operation ``i`` faced in round ``t`` (0 while an investigation was open or the
    regulator lax): the chance of at least one investigation had the run's shares and
    margins been given (``docs/MODEL.md`` section 12). Empty without a regulator.
    """
    reg = model.state.regulator
    if not reg.enabled:
        return {}
    survive = np.exp(model.regulator_log_survival)
    return {
        "remedies": dict(model.remedies),
        "cases": [
            {"round": e.round, "firm": e.firm, "text": e.text}
            for e in model.log
            if e.kind == "investigation"
        ],
        "investigation_probability": {
            f.name: _r(1.0 - float(p)) for f, p in zip(model.firms, survive, strict=True)
        },
    }


def money_flows(model: StackModel, capex: np.ndarray | None = None) -> list[dict[str, float]]:
    """Per round, money by kind: consumers' final demand, investment, financing (dollars).

    ``final_demand``: consumers' spending at the top of the stack; ``investment``: capital
    goods bought by capital-goods layers (capex), of which ``infrastructure`` went outside
    the stack (buildings, power: 0 without infrastructure costs); ``financing``: new debt
    and equity less repayments (0 with the finance section off); ``training`` (only when
    some operation trains): what the labs paid for training compute (``docs/MODEL.md``
    20). ``capex``: the history's ``ops_matrix("capex")`` when the caller has it already.
    """
    h = model.history
    by_round = (h.ops_matrix("capex") if capex is None else capex).sum(axis=1)
    rows = [
        {
            "round": t,
            "final_demand": _r(row["final_spend"]),
            "investment": _r(by_round[t]),
            "infrastructure": _r(row.get("infrastructure", 0.0)),
            "financing": _r(row.get("financing", 0.0)),
        }
        for t, row in enumerate(h.round_rows)
    ]
    book = model.training
    if book.enabled:
        for row, trained in zip(rows, book.rows, strict=False):
            row["training"] = _r(float(trained["spend"].sum()))
    return rows


def value_shares(model: StackModel) -> dict[str, dict[str, float]]:
    """The summary's value shares alone: ``{"layer": {name: share}, "firm": {name: share}}``.

    The ``value_share`` of every row of :func:`summarize`'s ``layers`` and ``firms``, the
    same numbers computed the same way (a layer's cumulative operating profit, a firm's
    cumulative value, over the stack's cumulative operating profit), without the rest of
    the summary: what the verdict's extra seeds keep
    (:func:`stackgame.experiments.robustness.shares_of` of a summary gives the same).
    """
    h = model.history
    if len(h) == 0:
        raise ValueError("the model has not run a round yet")
    loper = h.layers_matrix("operating_profit").sum(axis=0)
    total = abs(float(loper.sum()))  # (a loss-making stack: shares of the loss's size)
    fvalue = h.firms_matrix("value").sum(axis=0)
    return {
        "layer": {name: _r(_ratio(loper[k], total)) for k, name in enumerate(model.layer_names)},
        "firm": {f.name: _r(_ratio(fvalue[f.index], total)) for f in model.firms},
    }


def summarize(model: StackModel) -> dict[str, Any]:
    """The JSON-ready summary of a run (no timestamps: same seed, same bytes)."""
    h = model.history
    st = model.state
    if len(h) == 0:
        raise ValueError("the model has not run a round yet")
    layers = model.layer_names
    lrev = h.layers_matrix("revenue").sum(axis=0)
    lext = h.layers_matrix("external_revenue").sum(axis=0)  # margins: sales to others
    lva = h.layers_matrix("value_added").sum(axis=0)
    lgross = h.layers_matrix("gross_profit").sum(axis=0)
    loper = h.layers_matrix("operating_profit").sum(axis=0)
    lhhi = h.layers_matrix("hhi")
    spend = float(h.rounds_vector("final_spend").sum())
    capex = h.ops_matrix("capex")
    investment = float(capex.sum())
    infrastructure = float(sum(row.get("infrastructure", 0.0) for row in h.round_rows))
    training = training_totals(model)
    # training is paid to the clouds outside final spend and capex (docs/MODEL.md 20.4);
    # infrastructure is investment that reaches no firm of the stack
    spending = (
        spend + investment - infrastructure + (float(training["spend"].sum()) if training else 0.0)
    )
    total = float(loper.sum())
    shares = value_shares(model)  # (the verdict's seeds keep these alone: written once)
    layer_rows = [
        {
            "name": name,
            "value_share": shares["layer"][name],
            "spend_share": _r(_ratio(lva[k], spending)),
            "gross_margin": _r(_ratio(lgross[k], lext[k])),
            "operating_margin": _r(_ratio(loper[k], lext[k])),
            "hhi": _r(lhhi[-1, k]),
            "revenue": _r(lrev[k]),
            "external_revenue": _r(lext[k]),
            "operating_profit": _r(loper[k]),
        }
        for k, name in enumerate(layers)
    ]
    fvalue = h.firms_matrix("value").sum(axis=0)
    fprofit = h.firms_matrix("profit").sum(axis=0)
    frev = h.firms_matrix("revenue").sum(axis=0)
    fgross = h.firms_matrix("gross_profit").sum(axis=0)
    posture = h.ops_matrix("posture")
    n_firms = len(model.firms)
    firm_va = np.zeros(n_firms)  # value added: revenue less inputs bought outside
    firm_capex = np.zeros(n_firms)
    # per round and firm at once (each bin sums the same weights in the same order), then
    # summed over the rounds in order, as the round-by-round loop did
    va = [row["revenue"] - row["input_cost"] for row in h.op_rows]  # self-supply cancels
    for row_va, row_capex in zip(
        h.per_round_bincount(h.op_firm, va, n_firms),
        h.per_round_bincount(h.op_firm, [row["capex"] for row in h.op_rows], n_firms),
        strict=True,
    ):
        firm_va += row_va
        firm_capex += row_capex
    # the buildout's stocks at the end: capacity installed (in force after the last
    # round) and the last round's use of the capacity in force then
    on = st.active
    installed = np.bincount(st.firm_of[on], weights=st.capacity[on], minlength=n_firms)
    last_row = h.op_rows[-1]
    used = np.bincount(h.op_firm[-1], weights=last_row["quantity"], minlength=n_firms)
    held = np.bincount(h.op_firm[-1], weights=last_row["capacity"], minlength=n_firms)
    backlog = model.contracts.backlog(st, model.memory.price)
    firm_of = st.firm_of
    last = len(h) - 1
    firm_rows = []
    for f in model.firms:
        i = f.index
        ops = np.flatnonzero(firm_of == i)
        live = [o for o in ops if st.active[o] and st.online_round[o] <= last]
        entered = sorted(
            {layers[st.layer_of[o]] for o in live if st.integrated_at[o] >= 0},
            key=layers.index,
        )
        building = sorted(
            {layers[st.layer_of[o]] for o in ops if st.active[o] and st.online_round[o] > last},
            key=layers.index,
        )
        seen = ops[ops < posture.shape[1]] if posture.size else ops[:0]  # ops built last round
        restraint = 1.0 - float(posture[:, seen].mean()) if seen.size else 1.0
        firm_rows.append(
            {
                "name": f.name,
                "label": f.label,
                "layers": sorted({layers[st.layer_of[o]] for o in live}, key=layers.index)
                if f.active
                else [],
                "building": building if f.active else [],
                "value_share": shares["firm"][f.name],
                "spend_share": _r(_ratio(firm_va[i], spending)),
                "gross_margin": _r(_ratio(fgross[i], frev[i])),
                "operating_margin": _r(_ratio(fprofit[i], frev[i])),
                "revenue": _r(frev[i]),
                "value": _r(fvalue[i]),
                "cash": _r(st.cash[i]),
                "capex": _r(firm_capex[i]),
                "installed_capacity": _r(installed[i]),
                "utilisation": _r(_ratio(used[i], held[i])),
                "debt": _r(st.debt[i]),
                "backlog": _r(backlog[i]),
                "failed": int(st.failed_round[i]) if st.failed_round[i] >= 0 else None,
                "integrated": entered,
                "acquired": bool(st.acquired[i]),
                "restraint_rate": _r(restraint),
                "strategy": f.strategy.name,
            }
        )
    if training:
        for i, row in enumerate(firm_rows):
            row["training"] = _r(training["firm_spend"][i])
            row["training_charge"] = _r(training["firm_charge"][i])
            row["model_stock"] = _r(training["firm_stock"][i])
    for row, buildout in zip(layer_rows, layer_buildout(model, firm_rows, capex), strict=True):
        row["buildout"] = buildout
    log = model.log
    summary: dict[str, Any] = {
        "scenario": model.scenario.name,
        "title": title(model.scenario.name, model.scenario.description),
        "scenario_hash": model.scenario.digest(),
        "seed": model.seed,
        "rounds": len(h),
        "final_spend": _r(spend),
        "investment": _r(investment),
        "infrastructure": _r(infrastructure),
        "interest": _r(sum(row.get("interest", 0.0) for row in h.round_rows)),
        "money_flows": money_flows(model, capex),
        **(
            {
                "training": _r(float(training["spend"].sum())),
                "training_writedowns": [
                    {"round": e.round, "firm": e.firm, "text": e.text}
                    for e in log
                    if e.kind == "training"
                ],
            }
            if training
            else {}
        ),
        "failures": [
            {"firm": e.firm, "round": e.round, "reason": e.text}
            for e in model.log
            if e.kind == "failure"
        ],
        "lost_demand": _r(h.rounds_vector("lost_demand").sum()),
        "stack_profit": _r(total),
        "layers": layer_rows,
        "firms": firm_rows,
        "operations": operation_rows(model),
        "regulator": {
            "stance": _r(st.regulator.stance),
            "investigations": sum(1 for e in log if e.kind == "investigation"),
            "fines": _r(h.ops_matrix("fines").sum()),
            "investigated": sorted({e.firm for e in log if e.kind == "investigation"}),
        }
        | regulator_risk(model),
        "integrations": [
            {"round": e.round, "firm": e.firm, "text": e.text} | integration_status(e.text, last)
            for e in log
            if e.kind == "integration"
        ],
        "scheduled_events": scheduled_events(model, last),
        "triggers": [{"round": e.round, "text": e.text} for e in log if e.kind == "trigger"],
        "events": [{"round": e.round, "text": e.text} for e in log if e.kind == "event"],
    }
    summary["calibration"] = calibration_rows(model, summary)
    dates = calendar(model)
    if dates is not None:
        summary["calendar"] = dates
    summary["verdict"] = verdict(summary)
    return summary


def training_totals(model: StackModel) -> dict[str, np.ndarray] | None:
    """Training over the run (``docs/MODEL.md`` 20): per round and per firm; ``None`` if off.

    ``spend`` per round (what the labs paid for training compute), and per firm its
    ``firm_spend``, ``firm_charge`` (charged to operating income) and ``firm_stock`` (model
    stock at the end).
    """
    book = model.training
    if not book.enabled or not book.rows:
        return None
    n_firms = len(model.firms)
    firm_spend = np.zeros(n_firms)
    firm_charge = np.zeros(n_firms)
    spends = [row["spend"] for row in book.rows]
    if len({x.shape[0] for x in spends}) == 1:  # each row summed as x.sum() sums it
        spend = np.array(spends).sum(axis=1)
    else:
        spend = np.array([float(x.sum()) for x in spends])
    # every round's bincounts at once (each bin sums the same weights in the same order),
    # then summed over the rounds in order, as the round-by-round loop did
    firm_of = [model.state.firm_of[: x.shape[0]] for x in spends]
    h = model.history
    for row_spend, row_charge in zip(
        h.per_round_bincount(firm_of, spends, n_firms),
        h.per_round_bincount(firm_of, [row["charge"] for row in book.rows], n_firms),
        strict=True,
    ):
        firm_spend += row_spend
        firm_charge += row_charge
    last = book.rows[-1]["stock"]
    firm_stock = np.bincount(model.state.firm_of[: last.shape[0]], weights=last, minlength=n_firms)
    return {
        "spend": spend,
        "firm_spend": firm_spend,
        "firm_charge": firm_charge,
        "firm_stock": firm_stock,
    }


def layer_buildout(
    model: StackModel, firm_rows: Sequence[Mapping[str, Any]], capex: np.ndarray | None = None
) -> list[dict[str, Any]]:
    """Per layer (bottom first), the buildout's figures of its operations and firms.

    Operations' figures by the operation's layer: ``capex`` (capital goods bought over the
    run), ``installed_capacity`` (capacity in force after the last round) and
    ``utilisation`` (the last round's output over the capacity in force then). Firms'
    figures (``debt``, ``cash``, ``backlog``, at the end, from ``firm_rows``) are split
    over a firm's layers in proportion to its cumulative external revenue in each (equally
    over the layers of its operations when it sold nothing), so that each column sums
    over the layers to its sum over the firms.
    """
    h = model.history
    st = model.state
    n_layers = len(model.layer_names)
    capex = (h.ops_matrix("capex") if capex is None else capex).sum(axis=0)
    n = capex.shape[0]
    layer_of = st.layer_of[:n]
    lcapex = np.bincount(layer_of, weights=capex, minlength=n_layers)
    on = st.active
    installed = np.bincount(st.layer_of[on], weights=st.capacity[on], minlength=n_layers)
    last = h.op_rows[-1]
    used = np.bincount(h.op_layer[-1], weights=last["quantity"], minlength=n_layers)
    held = np.bincount(h.op_layer[-1], weights=last["capacity"], minlength=n_layers)
    sold = h.ops_matrix("revenue").sum(axis=0) - h.ops_matrix("internal_revenue").sum(axis=0)
    split = {key: np.zeros(n_layers) for key in ("debt", "cash", "backlog")}
    for i, row in enumerate(firm_rows):
        ops = np.flatnonzero(st.firm_of == i)
        seen = ops[ops < n]  # (an operation built in the last round has sold nothing)
        weights = np.bincount(
            st.layer_of[seen], weights=np.clip(sold[seen], 0, None), minlength=n_layers
        )
        if weights.sum() <= 1e-12:
            weights = np.bincount(st.layer_of[ops], minlength=n_layers).astype(float)
        if weights.sum() <= 0:
            continue
        weights = weights / weights.sum()
        for key, out in split.items():
            out += weights * float(row.get(key) or 0.0)
    return [
        {
            "capex": _r(lcapex[k]),
            "installed_capacity": _r(installed[k]),
            "utilisation": _r(_ratio(used[k], held[k])),
            "debt": _r(split["debt"][k]),
            "cash": _r(split["cash"][k]),
            "backlog": _r(split["backlog"][k]),
        }
        for k in range(n_layers)
    ]


def title(name: str, description: str) -> str:
    """The headline of a run: the scenario's description up to its first colon, or its name.

    ``"The AI stack in 2026: foundry, ..."`` gives ``"The AI stack in 2026"``;
    ``"Calvano et al. (2020) baseline: logit Bertrand duopoly"`` gives
    ``"Calvano et al. (2020) baseline"``.
    """
    head = description.split(":", 1)[0].strip().rstrip(".")
    return head or name


def integration_status(text: str, last: int) -> dict[str, Any]:
    """Whether an integration move is done, planned or failed.

    ``planned``: a build whose capacity comes online only after the run's last round
    ``last``; ``failed``: a move that could not be paid for; ``done`` otherwise.
    """
    if text.startswith("cannot"):
        return {"status": "failed", "online_round": None}
    online = _ONLINE.search(text)
    if online is None:  # a purchase or a stake takes effect at once
        return {"status": "done", "online_round": None}
    r = int(online.group(1))
    return {"status": "done" if r <= last else "planned", "online_round": r}


def scheduled_events(model: StackModel, last: int) -> list[dict[str, Any]]:
    """Every enabled event of the scenario: its name, kind, round and what became of it.

    ``status`` is ``happened`` (it took effect in a round of the run), ``after the run``
    (scheduled for a round after the last) or ``did not fire`` (a conditional event whose
    condition never held).
    """
    pending = getattr(model, "_pending_events", [])
    rows = []
    for e in model.scenario.events:
        if not e.enabled:
            continue
        if e.when is None:
            status = "happened" if e.round <= last else "after the run"
        else:
            status = "did not fire" if any(e is p for p in pending) else "happened"
        rows.append(
            {
                "name": e.name,
                "kind": e.kind,
                "round": e.round,
                "conditional": e.when is not None,
                "status": status,
            }
        )
    return sorted(rows, key=lambda r: (r["round"], r["name"]))


def operation_rows(model: StackModel) -> list[dict[str, Any]]:
    """Margins of each firm in each layer: cumulative, first round and last round."""
    h = model.history
    st = model.state
    rev = h.ops_matrix("revenue")
    gross = h.ops_matrix("gross_profit")
    oper = h.ops_matrix("operating_profit")
    qty = h.ops_matrix("quantity")
    cap = h.ops_matrix("capacity")
    rows = []
    for o in range(min(st.n_ops, rev.shape[1])):
        if not st.active[o] or rev[:, o].sum() <= 1e-12:
            continue
        live = np.flatnonzero(rev[:, o] > 1e-12)
        first, last = int(live[0]), int(live[-1])
        rows.append(
            {
                "firm": model.firms[int(st.firm_of[o])].name,
                "layer": model.layer_names[st.layer_of[o]],
                "gross_margin": _r(_ratio(gross[:, o].sum(), rev[:, o].sum())),
                "operating_margin": _r(_ratio(oper[:, o].sum(), rev[:, o].sum())),
                "gross_margin_first": _r(_ratio(gross[first, o], rev[first, o])),
                "gross_margin_last": _r(_ratio(gross[last, o], rev[last, o])),
                "operating_margin_first": _r(_ratio(oper[first, o], rev[first, o])),
                "operating_margin_last": _r(_ratio(oper[last, o], rev[last, o])),
                "utilisation": _r(_ratio(qty[:, o].sum(), cap[:, o].sum())),
            }
        )
    return rows


def calibration_rows(model: StackModel, summary: dict[str, Any]) -> list[dict[str, Any]]:
    """Each calibration figure and target of the scenario next to the model's number.

    First the scenario's ``[[calibration]]`` entries (margins from the seed articles;
    their range is the target plus or minus its ``tolerance``), then every target of its
    target table (``Scenario.targets``, ``environment/targets.py``: how each kind is
    measured). Every row has ``figure``, ``source``, ``kind``, ``target``, ``model``,
    ``low``, ``high``, ``inside`` (the model within the range; ``None`` without a model
    number), ``close`` (inside, or a margin within 5 points and money within 25% of the
    figure: :func:`~stackgame.environment.targets.close`), ``residual`` (model - target),
    ``unit``, ``period``, ``estimate``, ``weight`` and the older keys ``firm``,
    ``layer``, ``metric`` (the kind) and ``window``.
    """
    rows = []
    ops = summary["operations"]
    firms = {f["name"]: f for f in summary["firms"]}
    for c in model.scenario.calibration:
        suffix = "" if c.window == "all" else f"_{c.window}"
        if c.layer is None:
            value = firms[c.firm][c.metric] if c.window == "all" else None
        else:
            hit = [r for r in ops if r["firm"] == c.firm and r["layer"] == c.layer]
            value = hit[0][c.metric + suffix] if hit else None
        low, high = c.target - c.tolerance, c.target + c.tolerance
        rows.append(
            _calibration_row(
                c.figure,
                c.source,
                c.firm,
                c.layer,
                c.metric,
                c.window,
                c.target,
                value,
                low,
                high,
                "fraction",
                _CALIBRATION_PERIOD[c.window],
                None,
                None,
                1.0,
            )  # fmt: skip
        )
    table = targets.resolve(model.scenario)
    for t in table.targets if table is not None else []:
        rows.append(
            _calibration_row(
                t.figure,
                t.source,
                t.firm,
                t.layer,
                t.kind,
                t.window,
                t.value,
                targets.measure(t, model),
                t.low,
                t.high,
                t.unit,
                t.period,
                t.name,
                t.estimate,
                t.weight,
            )  # fmt: skip
        )
    return rows


def _calibration_row(
    figure: str, source: str, firm: str | None, layer: str | None, kind: str, window: str,
    target: float, value: float | None, low: float, high: float, unit: str, period: str,
    name: str | None, estimate: bool | None, weight: float,
) -> dict[str, Any]:  # fmt: skip
    """One row of :func:`calibration_rows`: a figure next to the model's number."""
    return {
        "figure": figure,
        "source": source,
        "firm": firm,
        "layer": layer,
        "metric": kind,
        "window": window,
        "target": _r(target),
        "model": None if value is None else _r(value),
        "residual": None if value is None else _r(value - target),
        "name": name,
        "kind": kind,
        "unit": unit,
        "period": period,
        "low": _r(low),
        "high": _r(high),
        "inside": targets.inside(value, low, high),
        "close": targets.close(value, target, low, high, unit),
        "estimate": estimate,
        "weight": weight,
    }


_CALIBRATION_PERIOD = {"all": "the whole run", "first": "first round", "last": "last round"}


def calendar(model: StackModel) -> dict[str, Any] | None:
    """The run's dates: the quarter of its first and last round, and what it projects.

    ``None`` when the scenario has no ``start_quarter``. ``targets_until`` is the last
    quarter any dated target of the scenario's table looks at (``None``: none does):
    rounds after it are a projection that no figure checks.
    """
    sc = model.scenario
    if sc.start_quarter is None:
        return None
    start = targets.parse_quarter(sc.start_quarter)
    n = len(model.history)
    table = targets.resolve(sc)
    ends = [
        span[1]
        for t in (table.targets if table is not None else [])
        if (span := targets.window_quarters(t.window)) is not None
    ]
    until = max(ends) if ends else None
    return {
        "first_round": targets.quarter_name(start),
        "last_round": targets.quarter_name(start + n - 1),
        "targets_until": None if until is None else targets.quarter_name(until),
        "projected_from": None
        if until is None or until - start + 1 >= n
        else targets.quarter_name(until + 1),
    }


def verdict(summary: dict[str, Any]) -> str:
    """A few plain sentences: which layer and which firm won, who was squeezed, what moved.

    Shares within :data:`TIE_TOLERANCE` of the largest are a tie and said so; a scenario
    with one layer has no squeezed layer; integration moves are done or planned (their
    capacity online only after the run ends); every enabled event is named.
    """
    tol = f"within {TIE_TOLERANCE * 100:.1f} pp"
    layer_rows = summary["layers"]
    by_name = {r["name"]: r for r in layer_rows}
    top = leaders({r["name"]: r["value_share"] for r in layer_rows})
    parts = []
    of_profit = "of the stack's profit"
    if summary.get("stack_profit", 0.0) < 0:  # shares of the loss's size (module docstring)
        parts.append("The stack as a whole lost money over the run.")
        of_profit = "of the size of the stack's loss"
    if len(layer_rows) == 1:
        only = layer_rows[0]
        parts.append(
            f"There is one layer, {only['name']}: it takes all of the stack's profit at a "
            f"{only['operating_margin']:.0%} operating margin."
        )
    elif len(top) == 1:
        lead_layer = by_name[top[0]]
        parts.append(
            f"The {lead_layer['name']} layer captures {lead_layer['value_share']:.0%} "
            f"{of_profit} at a {lead_layer['operating_margin']:.0%} operating margin."
        )
    else:
        share = by_name[top[0]]["value_share"]
        parts.append(
            f"The {and_join(top)} layers tie for the most profit ({share:.0%} each, {tol}) at "
            + and_join([f"{by_name[n]['operating_margin']:.0%}" for n in top])
            + " operating margins."
        )
    firm_rows = [f for f in summary["firms"] if f["layers"] or f["value_share"]]
    labels = {f["name"]: f["label"] for f in summary["firms"]}
    lead = leaders({f["name"]: f["value_share"] for f in firm_rows})
    if len(lead) == 1:
        row = next(f for f in firm_rows if f["name"] == lead[0])
        parts.append(f"{row['label']} is the largest single winner with {row['value_share']:.0%}.")
    elif lead:
        share = max(f["value_share"] for f in firm_rows if f["name"] in lead)
        parts.append(
            f"{and_join([labels[n] for n in lead])} tie as the largest winners with "
            f"{share:.0%} each ({tol})."
        )
    if len(layer_rows) > 1:
        spent = "of spending" if summary.get("investment") else "of final spend"
        parts.append(_squeezed(layer_rows, top, spent))
    parts += _moves(summary, labels)
    reg = summary["regulator"]
    if reg["investigations"]:
        parts.append(
            f"The regulator opened {reg['investigations']} investigation(s) "
            f"({', '.join(reg['investigated'])})."
        )
    parts += _events(summary.get("scheduled_events", []))
    failures = summary.get("failures")
    if failures:
        parts.append(
            "Failed: "
            + "; ".join(
                f"{labels.get(e['firm'], e['firm'])} (round {e['round']})" for e in failures
            )
            + "."
        )
    return " ".join(parts)


def _squeezed(
    layer_rows: list[dict[str, Any]], top: list[str], spent: str = "of final spend"
) -> str:
    margins = {r["name"]: r["operating_margin"] for r in layer_rows}
    low = leaders({n: -m for n, m in margins.items()})
    by_name = {r["name"]: r for r in layer_rows}
    if len(low) == len(layer_rows):
        return f"Every layer earns the same operating margin ({margins[low[0]]:.0%}, {_TOL})."
    least = leaders({r["name"]: -r["value_share"] for r in layer_rows})
    if len(low) == 1:
        row = by_name[low[0]]
        text = (
            f"The squeezed layer is {row['name']}: {row['operating_margin']:.0%} operating "
            f"margin on {row['spend_share']:.0%} {spent}"
        )
    else:
        text = (
            f"The squeezed layers are {and_join(low)}: "
            + and_join([f"{margins[n]:.0%}" for n in low])
            + " operating margins"
        )
    if set(least).isdisjoint(low) and set(least).isdisjoint(top):
        share = by_name[least[0]]["value_share"]
        verb = "keeps" if len(least) == 1 else "keep"
        text += f", and {and_join(least)} {verb} the least ({share:.0%})"
    return text + "."


_TOL = f"within {TIE_TOLERANCE * 100:.1f} pp"


def _move_text(e: dict[str, Any], labels: Mapping[str, str]) -> str:
    what = e["text"].split(":", 1)[0]
    when = f"round {e['round']}"
    if e.get("online_round") is not None:
        when += f", online in round {e['online_round']}"
    return f"{labels.get(e['firm'], e['firm'])} {what} ({when})"


def _moves(summary: dict[str, Any], labels: Mapping[str, str]) -> list[str]:
    integ = summary["integrations"]
    done = [e for e in integ if e.get("status") == "done"]
    planned = [e for e in integ if e.get("status") == "planned"]
    out = []
    if done:
        out.append("Integration done: " + "; ".join(_move_text(e, labels) for e in done) + ".")
    if planned:
        out.append(
            "Integration planned, online only after the run ends: "
            + "; ".join(_move_text(e, labels) for e in planned)
            + "."
        )
    return out


def _events(events: list[dict[str, Any]]) -> list[str]:
    def name(e: dict[str, Any]) -> str:
        kind = EVENT_KINDS.get(e["kind"], e["kind"])
        since = "from round" if e["conditional"] else "round"
        return f"{e['name']} ({kind}, {since} {e['round']})"

    out = []
    groups = (
        ("happened", "Events"),
        ("after the run", "Scheduled after the run ends"),
        ("did not fire", "Enabled but never fired"),
    )
    for status, title_ in groups:
        chosen = [name(e) for e in events if e["status"] == status]
        if chosen:
            out.append(f"{title_}: " + "; ".join(chosen) + ".")
    return out
