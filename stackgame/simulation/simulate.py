"""One run of the stack, from a scenario to results: the function every front door calls.

``simulate`` builds a :class:`~stackgame.environment.model.StackModel`, runs it, releases
it from Mesa's registry (so thousands of runs keep memory flat) and returns a
:class:`RunResult` holding plain arrays and the summary, never the model itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    import pandas as pd

    from stackgame.environment.model import LogEntry, StackModel
    from stackgame.environment.scenario import Scenario


@dataclass
class RunResult:
    """What a run leaves behind.

    Attributes
    ----------
    summary
        The JSON-ready summary (:func:`stackgame.environment.summary.summarize`).
    layer_names, firm_names
        Bottom-first layer names; firm names in scenario order.
    layers
        Per-round per-layer arrays ``[rounds, n_layers]``: revenue, value_added,
        gross_profit, operating_profit, quantity, hhi.
    firms
        Per-round per-firm arrays ``[rounds, n_firms]``: profit, value, stake_income,
        cash, revenue, gross_profit, posture (1 = extract), markup.
    rounds
        Per-round scalars: final_spend, lost_demand, outside_share, market_size.
    log
        The event log entries.
    """

    summary: dict[str, Any]
    layer_names: list[str]
    firm_names: list[str]
    layers: dict[str, np.ndarray]
    firms: dict[str, np.ndarray]
    rounds: dict[str, np.ndarray]
    log: list[LogEntry] = field(default_factory=list)
    flows: list[dict[str, Any]] = field(default_factory=list)

    @classmethod
    def from_model(cls, model: StackModel) -> RunResult:
        """Collect a finished model's results as arrays."""
        h = model.history
        layers = {
            k: h.layers_matrix(k)
            for k in (
                "revenue",
                "external_revenue",
                "value_added",
                "gross_profit",
                "operating_profit",
                "quantity",
                "hhi",
            )
        }
        firms = {
            k: h.firms_matrix(k)
            for k in ("profit", "value", "stake_income", "cash", "revenue", "gross_profit")
        }
        posture = np.zeros((len(h), len(model.firms)))
        markup = np.zeros((len(h), len(model.firms)))
        for i, f in enumerate(model.firms):  # an acquired firm's history stops early
            posture[: len(f.postures), i] = [float(p) for p in f.postures]
            markup[: len(f.markups), i] = f.markups
        firms["posture"] = posture
        firms["markup"] = markup
        rounds = {
            k: h.rounds_vector(k)
            for k in ("final_spend", "lost_demand", "outside_share", "market_size")
        }
        return cls(
            flows=cumulative_flows(model),
            summary=model.summary(),
            layer_names=list(model.layer_names),
            firm_names=[f.name for f in model.firms],
            layers=layers,
            firms=firms,
            rounds=rounds,
            log=list(model.log),
        )

    # -- views for scripts, batches and tournaments -----------------------------------------
    def payoffs(self) -> dict[str, float]:
        """Each firm's mean value per round (operating profit after stakes): its payoff."""
        value = self.firms["value"]
        return {n: float(value[:, i].mean()) for i, n in enumerate(self.firm_names)}

    def metrics(self) -> dict[str, float]:
        """Flat scalar metrics, keyed ``<metric>.layer.<name>`` / ``<metric>.firm.<name>``.

        Shares and margins are fractions; ``operating_profit.layer.<name>``,
        ``final_spend`` and ``stack_profit`` are cumulative money (the scenario's unit).
        """
        out: dict[str, float] = {}
        for row in self.summary["layers"]:
            for key in ("value_share", "spend_share", "gross_margin", "operating_margin", "hhi"):
                out[f"{key}.layer.{row['name']}"] = float(row[key])
            out[f"operating_profit.layer.{row['name']}"] = float(row["operating_profit"])
        for row in self.summary["firms"]:
            for key in ("value_share", "gross_margin", "operating_margin", "restraint_rate"):
                out[f"{key}.firm.{row['name']}"] = float(row[key])
            out[f"layers.firm.{row['name']}"] = float(len(row["layers"]))
        out["final_spend"] = float(self.summary["final_spend"])
        out["lost_demand"] = float(self.summary["lost_demand"])
        out["stack_profit"] = float(self.summary["stack_profit"])
        out["investigations"] = float(self.summary["regulator"]["investigations"])
        out["integrations"] = float(
            sum(1 for e in self.summary["integrations"] if not e["text"].startswith("cannot"))
        )
        return out

    def per_round(self) -> pd.DataFrame:
        """One row per round and layer: value share (cumulative), margins, HHI, price."""
        import pandas as pd

        rev = self.layers["revenue"]
        oper = self.layers["operating_profit"]
        cum = np.cumsum(oper, axis=0)
        total = cum.sum(axis=1, keepdims=True)
        share = np.divide(cum, total, out=np.zeros_like(cum), where=np.abs(total) > 1e-12)
        ext = self.layers["external_revenue"]  # margins on sales to others
        gm = np.divide(self.layers["gross_profit"], ext, out=np.zeros_like(ext), where=ext > 1e-12)
        om = np.divide(oper, ext, out=np.zeros_like(ext), where=ext > 1e-12)
        qty = self.layers["quantity"]
        price = np.divide(rev, qty, out=np.zeros_like(rev), where=qty > 1e-12)
        rows = []
        for t in range(rev.shape[0]):
            for k, name in enumerate(self.layer_names):
                rows.append(
                    {
                        "round": t,
                        "layer": name,
                        "value_share": share[t, k],
                        "gross_margin": gm[t, k],
                        "operating_margin": om[t, k],
                        "hhi": self.layers["hhi"][t, k],
                        "price": price[t, k],
                        "quantity": qty[t, k],
                        "revenue": rev[t, k],
                        "operating_profit": oper[t, k],
                    }
                )
        return pd.DataFrame(rows)

    def per_firm_round(self) -> pd.DataFrame:
        """One row per round and firm: revenue, profit, value, cash, posture, markup."""
        import pandas as pd

        rows = []
        n = self.firms["value"].shape[0]
        for t in range(n):
            for i, name in enumerate(self.firm_names):
                rows.append(
                    {
                        "round": t,
                        "firm": name,
                        "revenue": self.firms["revenue"][t, i],
                        "operating_profit": self.firms["profit"][t, i],
                        "value": self.firms["value"][t, i],
                        "cash": self.firms["cash"][t, i],
                        "posture": int(self.firms["posture"][t, i]),
                        "markup": self.firms["markup"][t, i],
                    }
                )
        return pd.DataFrame(rows)


def build(
    scenario: str | Path | Scenario = "ai-stack-2026",
    *,
    rounds: int | None = None,
    seed: Any = 0,
    strategies: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    collect: bool = True,
    **params: Any,
) -> StackModel:
    """A fresh model (the caller runs it and calls ``release()``)."""
    from stackgame.environment.model import StackModel

    return StackModel(
        scenario,
        seed,
        rounds=rounds,
        strategies=strategies,
        overrides=overrides,
        collect=collect,
        **params,
    )


def simulate(
    scenario: str | Path | Scenario = "ai-stack-2026",
    *,
    rounds: int | None = None,
    seed: Any = 0,
    strategies: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
    **params: Any,
) -> RunResult:
    """Build, run and release a model; return its results.

    Parameters are those of :class:`~stackgame.environment.model.StackModel`. The same
    seed gives the same result, to the byte in ``summary``. Mesa's ``DataCollector`` is
    off here (the arrays in the result hold everything it would).
    """
    model = build(
        scenario,
        rounds=rounds,
        seed=seed,
        strategies=strategies,
        overrides=overrides,
        collect=False,
        **params,
    )
    try:
        model.run()
        return RunResult.from_model(model)
    finally:
        model.release()


def cumulative_flows(model: StackModel) -> list[dict[str, Any]]:
    """Money paid between firms over the whole run: seller, buyer, layer, dollars.

    Market payments only; consumers' spending appears with buyer ``"final demand"``.
    """
    st = model.state
    pay = model.history.cum_payments
    names = [f.name for f in model.firms]
    agg: dict[tuple[str, str, str], float] = {}
    for b, s in zip(*np.nonzero(pay > 1e-9), strict=True):
        key = (
            names[int(st.firm_of[s])],
            names[int(st.firm_of[b])],
            model.layer_names[st.layer_of[s]],
        )
        agg[key] = agg.get(key, 0.0) + float(pay[b, s])
    top = model.layer_names[-1]
    revenue = model.history.ops_matrix("revenue").sum(axis=0)
    for o in st.structure.by_layer[-1]:
        if o >= revenue.shape[0]:  # built in the last round: no sales yet
            continue
        key = (names[int(st.firm_of[o])], "final demand", top)
        agg[key] = agg.get(key, 0.0) + float(revenue[o])
    return [
        {"seller": k[0], "buyer": k[1], "layer": k[2], "dollars": v}
        for k, v in sorted(agg.items())
        if v > 1e-9
    ]
