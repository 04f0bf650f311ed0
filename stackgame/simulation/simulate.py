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

from stackgame.environment import discounting

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
        gross_profit, operating_profit, quantity, hhi; and the buildout's, summed over the
        layer's operations: capex (capital goods bought), capacity (in force that round),
        used (output).
    firms
        Per-round per-firm arrays ``[rounds, n_firms]``: profit, value, stake_income,
        cash, revenue, gross_profit, posture (1 = extract), markup; capex, capacity and
        used summed over the firm's operations, and debt (at the end of each round).
    rounds
        Per-round scalars: final_spend, lost_demand, outside_share, market_size; the
        money flows by kind: investment (capex) and financing (new debt and equity less
        repayments, ``docs/MODEL.md`` 16; 0 with the finance section off).
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
    discount_rate: float = 0.0

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
        buildout = buildout_arrays(model)
        for key in ("capex", "capacity", "used"):
            layers[key] = buildout[f"layer_{key}"]
            firms[key] = buildout[f"firm_{key}"]
        firms["debt"] = buildout["firm_debt"]
        rounds["investment"] = buildout["investment"]
        rounds["financing"] = buildout["financing"]
        return cls(
            flows=cumulative_flows(model),
            summary=model.summary(),
            layer_names=list(model.layer_names),
            firm_names=[f.name for f in model.firms],
            layers=layers,
            firms=firms,
            rounds=rounds,
            log=list(model.log),
            discount_rate=float(model.scenario.discount_rate),
        )

    # -- views for scripts, batches and tournaments -----------------------------------------
    def payoffs(self) -> dict[str, float]:
        """Each firm's mean value per round (operating profit after stakes): its payoff."""
        value = self.firms["value"]
        return {n: float(value[:, i].mean()) for i, n in enumerate(self.firm_names)}

    def discounted_payoffs(self, rate: float | None = None) -> dict[str, float]:
        """Each firm's discounted payoff per round: its score in tournaments and equilibria.

        ``v_i = sum_t delta^t pi_{i,t} / sum_t delta^t`` with ``delta = 1 / (1 + r)``
        (:func:`stackgame.environment.discounting.per_round_equivalent`, ``docs/MODEL.md``
        20); ``rate`` ``None``: the scenario's ``discount_rate``. At ``r = 0`` exactly
        :meth:`payoffs`.
        """
        r = discounting.check_rate(self.discount_rate if rate is None else rate)
        if r == 0.0:  # the mean itself, summed in the same order to the last bit
            return self.payoffs()
        v = discounting.per_round_equivalent(self.firms["value"], r)
        return {n: float(v[i]) for i, n in enumerate(self.firm_names)}

    def present_values(self, rate: float | None = None) -> dict[str, float]:
        """Each firm's present value ``V_i = sum_t delta^t pi_{i,t}`` at ``rate`` per round."""
        r = self.discount_rate if rate is None else rate
        v = discounting.present_value(self.firms["value"], r)
        return {n: float(v[i]) for i, n in enumerate(self.firm_names)}

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
        out.update(self.buildout_metrics())
        return out

    def buildout_metrics(self) -> dict[str, float]:
        """The buildout's scalar metrics (``docs/BATCH.md``), part of :meth:`metrics`.

        ``investment`` and ``financing`` are cumulative money; ``failures`` counts the
        firms that failed. Per firm (``<metric>.firm.<name>``) and per layer
        (``<metric>.layer.<name>``, the summary's ``buildout`` entry: capex and capacity
        by operation, debt, cash and backlog split over a firm's layers by its revenue):
        ``capex`` (cumulative), ``installed_capacity`` (after the last round),
        ``utilisation`` (the last round's output over capacity), ``debt``, ``cash`` and
        ``backlog`` (at the end); per firm also ``failed`` (1 if it failed, else 0).
        """
        s = self.summary
        out: dict[str, float] = {
            "investment": float(s.get("investment", 0.0)),
            "financing": float(sum(r.get("financing", 0.0) for r in s.get("money_flows", []))),
            "failures": float(len(s.get("failures", []))),
        }
        for row in s["layers"]:
            for key, value in row.get("buildout", {}).items():
                out[f"{key}.layer.{row['name']}"] = float(value)
        for row in s["firms"]:
            for key in BUILDOUT_FIRM_METRICS:
                out[f"{key}.firm.{row['name']}"] = float(row.get(key) or 0.0)
            out[f"failed.firm.{row['name']}"] = float(row.get("failed") is not None)
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
        n, k = rev.shape
        if n == 0:
            return pd.DataFrame([])
        # columns built whole (round-major, layers within a round), as the rows would be
        columns = {
            "round": np.repeat(np.arange(n, dtype=np.int64), k),
            "layer": np.array(list(self.layer_names) * n, dtype=object),
            "value_share": share,
            "gross_margin": gm,
            "operating_margin": om,
            "hhi": self.layers["hhi"],
            "price": price,
            "quantity": qty,
            "revenue": rev,
            "operating_profit": oper,
        }
        if "capex" in self.layers:  # the buildout: capital goods bought, capacity, its use
            cap = self.layers["capacity"]
            columns["capex"] = self.layers["capex"]
            columns["capacity"] = cap
            columns["utilisation"] = _share(self.layers["used"], cap)
        return pd.DataFrame({c: np.asarray(v).reshape(-1) for c, v in columns.items()})

    def per_firm_round(self) -> pd.DataFrame:
        """One row per round and firm: revenue, profit, value, cash, posture, markup."""
        import pandas as pd

        n, k = self.firms["value"].shape
        if n == 0:
            return pd.DataFrame([])
        f = self.firms
        columns = {
            "round": np.repeat(np.arange(n, dtype=np.int64), k),
            "firm": np.array(list(self.firm_names) * n, dtype=object),
            "revenue": f["revenue"],
            "operating_profit": f["profit"],
            "value": f["value"],
            "cash": f["cash"],
            "posture": f["posture"].astype(np.int64),
            "markup": f["markup"],
        }
        if "capex" in f:  # the buildout: capital goods bought, capacity, its use, debt
            columns["capex"] = f["capex"]
            columns["capacity"] = f["capacity"]
            columns["utilisation"] = _share(f["used"], f["capacity"])
            columns["debt"] = f["debt"]
        return pd.DataFrame({c: np.asarray(v).reshape(-1) for c, v in columns.items()})


BUILDOUT_FIRM_METRICS = ("capex", "installed_capacity", "utilisation", "debt", "cash", "backlog")
"""The summary's per-firm buildout figures that are batch metrics (``<key>.firm.<name>``)."""


def _share(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    """``num / den`` where ``den`` is positive, else 0."""
    return np.divide(num, den, out=np.zeros_like(num, dtype=float), where=den > 1e-12)


def buildout_arrays(model: StackModel) -> dict[str, np.ndarray]:
    """Per round, the buildout by layer and by firm, and the money flows by kind.

    Returns ``layer_capex``, ``layer_capacity``, ``layer_used`` (``[rounds, n_layers]``),
    ``firm_capex``, ``firm_capacity``, ``firm_used``, ``firm_debt`` (``[rounds,
    n_firms]``), ``investment`` and ``financing`` (``[rounds]``). Each operation counts in
    the layer and for the firm it had that round. ``firm_debt`` is the history's per-firm
    debt where the finance section records it; without it debt never changes, so every
    round holds the debt at the end.
    """
    h = model.history
    n_layers = len(model.layer_names)
    n_firms = len(model.firms)
    n = len(h)
    out = {
        f"{who}_{key}": np.zeros((n, size))
        for who, size in (("layer", n_layers), ("firm", n_firms))
        for key in ("capex", "capacity", "used")
    }
    for key, column in (("capex", "capex"), ("capacity", "capacity"), ("used", "quantity")):
        weights = [row[column] for row in h.op_rows]
        for who, index, size in (("layer", h.op_layer, n_layers), ("firm", h.op_firm, n_firms)):
            if n:  # every round's bincount at once (the same sums, bin by bin)
                out[f"{who}_{key}"] = h.per_round_bincount(index, weights, size)
    debt = np.tile(np.asarray(model.state.debt, dtype=float), (n, 1))
    for t, row in enumerate(h.firm_rows):
        if "debt" in row:
            debt[t] = row["debt"]
    out["firm_debt"] = debt
    out["investment"] = out["layer_capex"].sum(axis=1)
    out["financing"] = np.array([float(r.get("financing", 0.0)) for r in h.round_rows])
    return out


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
