"""Who won the stack: value capture and margins by layer and by firm, from a run's history.

Definitions (all cumulative over the rounds run, dollars):

* ``value_share`` of a layer: its operating profit over the stack's operating profit; of
  a firm: its value (operating profit after equity stakes) over the same total. Both
  sum to 1.
* ``spend_share`` of a layer or a firm: its value added (revenue less inputs bought) over
  final spend; the shares telescope to 1 because each layer's inputs are the revenue of
  the layer below (a firm's self-supply cancels within the firm).
* ``gross_margin`` = (revenue - inputs - own variable cost) / revenue; ``operating_margin``
  subtracts depreciation, fixed cost and fines too. Margins are on external revenue
  (sales to other firms and to consumers): a firm's self-supply at cost is internal, so it
  neither dilutes a layer's margin nor a firm's.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from stackgame.environment.model import StackModel


def _ratio(num: float, den: float) -> float:
    return float(num / den) if abs(den) > 1e-12 else 0.0


def _r(x: float) -> float:
    """Round for JSON: stable text; shares still sum to 1 within 1e-8."""
    return round(float(x), 10) + 0.0  # + 0.0 turns -0.0 into 0.0


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
    total = float(loper.sum())
    layer_rows = [
        {
            "name": name,
            "value_share": _r(_ratio(loper[k], total)),
            "spend_share": _r(_ratio(lva[k], spend)),
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
    firm_va = np.zeros(len(model.firms))  # value added: revenue less inputs bought outside
    for t, row in enumerate(h.op_rows):
        va = row["revenue"] - row["input_cost"]  # self-supply cancels within the firm
        firm_va += np.bincount(h.op_firm[t], weights=va, minlength=len(model.firms))
    firm_of = st.firm_of
    firm_rows = []
    for f in model.firms:
        i = f.index
        ops = np.flatnonzero(firm_of == i)
        last = len(h) - 1
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
                "value_share": _r(_ratio(fvalue[i], total)),
                "spend_share": _r(_ratio(firm_va[i], spend)),
                "gross_margin": _r(_ratio(fgross[i], frev[i])),
                "operating_margin": _r(_ratio(fprofit[i], frev[i])),
                "revenue": _r(frev[i]),
                "value": _r(fvalue[i]),
                "cash": _r(st.cash[i]),
                "integrated": entered,
                "acquired": bool(st.acquired[i]),
                "restraint_rate": _r(restraint),
                "strategy": f.strategy.name,
            }
        )
    log = model.log
    summary: dict[str, Any] = {
        "scenario": model.scenario.name,
        "scenario_hash": model.scenario.digest(),
        "seed": model.seed,
        "rounds": len(h),
        "final_spend": _r(spend),
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
        },
        "integrations": [
            {"round": e.round, "firm": e.firm, "text": e.text}
            for e in log
            if e.kind == "integration"
        ],
        "triggers": [{"round": e.round, "text": e.text} for e in log if e.kind == "trigger"],
        "events": [{"round": e.round, "text": e.text} for e in log if e.kind == "event"],
    }
    summary["calibration"] = calibration_rows(model, summary)
    summary["verdict"] = verdict(summary)
    return summary


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
    """Each calibration figure of the scenario next to the model's number and residual."""
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
        rows.append(
            {
                "figure": c.figure,
                "source": c.source,
                "firm": c.firm,
                "layer": c.layer,
                "metric": c.metric,
                "window": c.window,
                "target": _r(c.target),
                "model": None if value is None else _r(value),
                "residual": None if value is None else _r(value - c.target),
            }
        )
    return rows


def verdict(summary: dict[str, Any]) -> str:
    """A few plain sentences: which layer and which firm won, and who was squeezed."""
    layers = sorted(summary["layers"], key=lambda r: -r["value_share"])
    firms = sorted(summary["firms"], key=lambda r: -r["value_share"])
    top, bottom = layers[0], layers[-1]
    by_margin = sorted(summary["layers"], key=lambda r: r["operating_margin"])
    squeezed = by_margin[0]
    lead = firms[0]
    parts = [
        f"The {top['name']} layer captures {top['value_share']:.0%} of the stack's profit "
        f"at a {top['operating_margin']:.0%} operating margin; {lead['label']} is the "
        f"largest single winner with {lead['value_share']:.0%}.",
        f"The squeezed layer is {squeezed['name']}: {squeezed['operating_margin']:.0%} "
        f"operating margin on {squeezed['spend_share']:.0%} of final spend"
        + (
            f", and {bottom['name']} keeps the least ({bottom['value_share']:.0%})."
            if bottom["name"] != squeezed["name"]
            else "."
        ),
    ]
    integ = summary["integrations"]
    built = [e for e in integ if not e["text"].startswith("cannot")]
    if built:
        movers = sorted({e["firm"] for e in built})
        parts.append(f"Integration moves: {', '.join(movers)}.")
    reg = summary["regulator"]
    if reg["investigations"]:
        parts.append(
            f"The regulator opened {reg['investigations']} investigation(s) "
            f"({', '.join(reg['investigated'])})."
        )
    if summary["triggers"]:
        parts.append("Triggers: " + "; ".join(t["text"] for t in summary["triggers"]) + ".")
    return " ".join(parts)
