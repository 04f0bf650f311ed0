"""``stackgame run``'s verdict robust to chance: the scenario on several seeds.

One run names a largest winner, but on ``ai-stack-2026`` the name changes with the seed
(seeds 0 to 5 name three different labs, each with 16-20% of the stack's profit). So
``stackgame run`` also plays the scenario on ``K`` seeds ``s, s + 1, ..., s + K - 1``
(:func:`stackgame.experiments.compare.seeds_of`, with ``s`` the run's ``--seed``, whose run
is reused): common random numbers, every name meets the same demand, regulator and
strategy draws on a given seed, so a difference between two names on one seed is free of
the noise they share. For every layer and firm it reports

* the *winner frequency*: the fraction of seeds on which it captures the most value (a
  seed whose shares tie within :data:`~stackgame.environment.summary.TIE_TOLERANCE`
  splits its count among the tied names, as
  :func:`stackgame.experiments.uncertainty.winner_probability` does);
* the mean value share with its Student-t interval,
  ``mean +- t_{0.975, K-1} * sd / sqrt(K)`` (:func:`stackgame.stats.mean_ci`);

and, per level, whether the leader (largest mean share) leads *beyond noise*: for every
other name ``j`` the paired difference ``d_s = share_leader,s - share_j,s`` has a 95%
t-interval (:func:`stackgame.experiments.compare.paired`) that lies above zero. Every
name whose difference interval reaches zero is *within noise* of the leader, and the
verdict names them together instead of one winner. With one seed there is no interval:
the report says so in words and names the seed's largest shares only.
"""

from __future__ import annotations

import functools
import math
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from stackgame.experiments.compare import CONFIDENCE, paired, seeds_of
from stackgame.stats import mean_ci

__all__ = [
    "DEFAULT_SEEDS",
    "LEVELS",
    "POOL_SECONDS",
    "SeedsConfig",
    "render",
    "run_seeds",
    "shares_of",
    "summarise",
    "verdict_sentence",
    "workers_for",
]

DEFAULT_SEEDS = 8
"""Seeds ``stackgame run`` plays by default (its own and seven more)."""

POOL_SECONDS = 1.5
"""Estimated work (seconds, one core) above which the extra seeds run on several processes.

Below it they run here, one after another: forking workers and sending their results back
costs tens of milliseconds, more than a few short runs take (a 24-round ``ai-stack-2026``
run takes about 0.1 s, a one-round run a few ms)."""

LEVELS = (("layer", "layers"), ("firm", "firms"))
"""The report's levels and the summary keys that hold their rows."""

NO_INTERVAL = "one seed: no interval"
"""Why the intervals are missing when ``K = 1``."""


def shares_of(summary: Mapping[str, Any]) -> dict[str, dict[str, float]]:
    """A run's value shares: ``{"layer": {name: share}, "firm": {name: share}}``."""
    return {
        level: {r["name"]: float(r["value_share"]) for r in summary[key]} for level, key in LEVELS
    }


@dataclass(frozen=True)
class SeedsConfig:
    """What every extra seed's run shares with the ``--seed`` run: scenario, rounds, changes."""

    scenario: Any
    rounds: int | None
    strategies: Mapping[str, str] = field(default_factory=dict)
    overrides: Mapping[str, Any] = field(default_factory=dict)


def _run_block(config: SeedsConfig, block: Sequence[int]) -> list[tuple[int, dict]]:
    """Run the seeds of one block; keep only their value shares (no model, no arrays).

    As :func:`stackgame.simulation.simulate.simulate` runs them, without its per-round
    arrays and flows (:meth:`RunResult.from_model`), which the shares do not read, and
    without the rest of the summary (:func:`stackgame.environment.summary.value_shares`:
    the summary's shares alone, about 45 ms less a seed at 2,001 rounds).
    """
    from stackgame.environment.summary import value_shares
    from stackgame.simulation.simulate import build

    out = []
    for seed in block:
        model = build(
            config.scenario,
            rounds=config.rounds,
            seed=seed,
            strategies=dict(config.strategies),
            overrides=dict(config.overrides),
            collect=False,
        )
        try:
            model.run()
            out.append((seed, value_shares(model)))  # (shares_of(model.summary()), sooner)
        finally:
            model.release()
    return out


def workers_for(extra_runs: int, seconds_per_run: float, cores: int) -> int:
    """Processes for ``extra_runs`` runs of about ``seconds_per_run`` each on ``cores``.

    One (here, in this process) unless the estimated work ``extra_runs * seconds_per_run``
    exceeds :data:`POOL_SECONDS`; then one per core, at most one per run.

    >>> workers_for(7, 0.1, 2), workers_for(7, 0.5, 2), workers_for(7, 0.5, 16)
    (1, 2, 7)
    """
    if extra_runs < 2 or cores < 2 or extra_runs * seconds_per_run <= POOL_SECONDS:
        return 1
    return min(cores, extra_runs)


def run_seeds(
    config: SeedsConfig,
    seeds: Sequence[int],
    known: Mapping[int, Mapping[str, Mapping[str, float]]],
    *,
    workers: int = 1,
    progress: bool = False,
) -> list[dict[str, Any]]:
    """The value shares on every seed of ``seeds``, in order: ``{"seed", "layer", "firm"}``.

    ``known`` maps seeds already run (the ``--seed`` run) to their :func:`shares_of`; the
    others run with :func:`stackgame.experiments.executor.map_blocks` on ``workers``
    processes (1: here).
    """
    from tqdm import tqdm

    todo = [s for s in seeds if s not in known]
    bar = tqdm(total=len(todo), desc="seeds", disable=not progress, file=sys.stderr, delay=1.0)
    try:
        if workers <= 1 or len(todo) < 2:  # here: no executor (and its imports) needed
            done = []
            for s in todo:
                done += _run_block(config, [s])
                bar.update(1)
        else:
            from stackgame.experiments.executor import map_blocks

            done = map_blocks(
                functools.partial(_run_block, config),
                [[s] for s in todo],
                min(workers, len(todo)),
                on_done=functools.partial(_advance, bar),
            )
    finally:
        bar.close()
    got = {s: dict(v) for s, v in known.items()} | dict(done)
    return [{"seed": s, **got[s]} for s in seeds]


def _advance(bar: Any, part: list[Any]) -> None:
    bar.update(len(part))


def _interval(values: Sequence[float]) -> dict[str, float | None]:
    stats = mean_ci(values, CONFIDENCE)
    lo, hi = stats["ci"]
    defined = len(values) > 1 and math.isfinite(lo) and math.isfinite(hi)
    return {
        "mean": stats["mean"],
        "low": lo if defined else None,
        "high": hi if defined else None,
    }


def _lead(per_seed: Mapping[str, Sequence[float]], means: Mapping[str, float]) -> dict[str, Any]:
    """The leader by mean share, its paired lead over each other name, who is within noise."""
    from stackgame.environment.summary import leaders

    tied = leaders(dict(means))
    leader = max(means, key=lambda n: (means[n], n in tied, -list(means).index(n)))
    differences: dict[str, dict[str, float | None]] = {}
    within = set(tied) | {leader}
    for name, values in per_seed.items():
        if name == leader:
            continue
        d = paired(values, per_seed[leader])  # leader minus name, seed by seed
        ci = d["ci"]
        differences[name] = {
            "mean": d["change"],
            "low": None if ci is None else ci[0],
            "high": None if ci is None else ci[1],
        }
        if ci is not None and not ci[0] > 0:
            within.add(name)
    order = sorted(within, key=lambda n: (-means[n], list(means).index(n)))
    return {
        "leader": leader,
        "clear": order == [leader] and len(per_seed[leader]) > 1 and len(per_seed) > 1,
        "within_noise": order,
        "differences": differences,
    }


def summarise(rows: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The robustness report from each seed's shares (:func:`run_seeds`'s rows, in order).

    Returns
    -------
    dict
        ``seeds`` (the list), ``n_seeds``, ``confidence``, ``interval_note`` (why the
        intervals are missing, or ``None``), ``winner_frequency`` (``layer`` and ``firm``:
        name to the fraction of seeds it won), ``intervals`` (``layer`` and ``firm``: name
        to ``mean``, ``low``, ``high``; ``None`` where undefined) and ``lead`` (``layer``
        and ``firm``: ``leader``, ``clear`` (it leads every other name beyond its paired
        interval), ``within_noise`` (the leader and the names within noise of it, largest
        mean first; with one seed, where noise cannot be measured, the names that tie
        with the leader within the verdict's tolerance), ``differences`` (leader minus
        each other name: ``mean``, ``low``, ``high``)).
    """
    from stackgame.experiments.uncertainty import winner_probability

    n = len(rows)
    if n == 0:
        raise ValueError("robustness: no seeds")
    report: dict[str, Any] = {
        "seeds": [int(r["seed"]) for r in rows],
        "n_seeds": n,
        "confidence": CONFIDENCE,
        "interval_note": NO_INTERVAL if n == 1 else None,
        "winner_frequency": {},
        "intervals": {},
        "lead": {},
    }
    for level, _ in LEVELS:
        shares = [dict(r[level]) for r in rows]
        names = list(shares[0])
        per_seed = {name: [s[name] for s in shares] for name in names}
        report["winner_frequency"][level] = winner_probability(shares, np.full(n, 1.0 / n))
        report["intervals"][level] = {name: _interval(v) for name, v in per_seed.items()}
        means = {name: report["intervals"][level][name]["mean"] for name in names}
        report["lead"][level] = _lead(per_seed, means)
    return report


# -- words and table ----------------------------------------------------------------------


def _share(iv: Mapping[str, Any]) -> str:
    if iv["low"] is None:
        return f"{iv['mean']:.0%}"
    return f"{iv['mean']:.0%} [{iv['low'] * 100:.0f}, {iv['high'] * 100:.0f}]"


def _span(seeds: Sequence[int]) -> str:
    if len(seeds) == 1:
        return f"seed {seeds[0]}"
    if list(seeds) == seeds_of(seeds[0], len(seeds)):
        return f"seeds {seeds[0]}-{seeds[-1]}"
    return "seeds " + ", ".join(str(s) for s in seeds)


def _level_words(report: Mapping[str, Any], level: str, labels: Mapping[str, str]) -> str:
    from stackgame.environment.summary import and_join

    lead = report["lead"][level]
    iv = report["intervals"][level]
    name = (lambda n: f"the {n} layer") if level == "layer" else (lambda n: labels.get(n, n))
    noun = "captures the most value" if level == "layer" else "is the largest winner"
    leader = lead["leader"]
    if len(iv) == 1:
        return f"{name(leader)} is the only {level} ({_share(iv[leader])})"
    if report["n_seeds"] == 1:
        tied = lead["within_noise"]
        if len(tied) > 1:
            verb = "tie for the most value" if level == "layer" else "tie as the largest winners"
            who = (
                "the " + and_join(tied) + " layers"
                if level == "layer"
                else and_join([name(n) for n in tied])
            )
            return f"{who} {verb} on it ({_share(iv[leader])} each)"
        return f"{name(leader)} {noun} on it ({_share(iv[leader])})"
    if lead["clear"]:
        runner = min(lead["differences"], key=lambda n: lead["differences"][n]["mean"])
        d = lead["differences"][runner]
        return (
            f"{name(leader)} {noun} beyond noise: {_share(iv[leader])}, "
            f"{d['mean'] * 100:.1f} pp [{d['low'] * 100:.1f}, {d['high'] * 100:.1f}] ahead of "
            f"{name(runner)} ({_share(iv[runner])})"
        )
    names = lead["within_noise"]
    title = and_join([name(n) for n in names])
    if level == "layer":
        title = "the " + and_join(names) + " layers"
    return f"{title} are within noise of each other: " + " vs ".join(_share(iv[n]) for n in names)


def verdict_sentence(report: Mapping[str, Any], labels: Mapping[str, str] | None = None) -> str:
    """The verdict across seeds, in words.

    ``"Across 8 seeds (0-7, common random numbers; value share of the stack's profit, mean
    [95% interval]): the chips layer captures the most value beyond noise: ...; OpenAI,
    Google and Anthropic are within noise of each other: 18% [16, 20] vs ...; the largest
    winner changes with the seed (OpenAI 3 of 8, ...)."``
    """
    labels = labels or {}
    seeds = report["seeds"]
    n = report["n_seeds"]
    if n == 1:
        return (
            f"One seed ({seeds[0]}), so no interval: nothing here is robust to chance; "
            + _level_words(report, "layer", labels)
            + "; "
            + _level_words(report, "firm", labels)
            + ". Play more seeds (--seeds 8) to tell a winner from noise."
        )
    head = (
        f"Across {n} seeds ({_span(seeds)[6:]}, common random numbers; value share of the "
        f"stack's profit, mean [{report['confidence']:.0%} interval]): "
    )
    words = [_level_words(report, level, labels) for level, _ in LEVELS]
    freq = report["winner_frequency"]["firm"]
    won = sorted(((p, k) for k, p in freq.items() if p > 0), key=lambda x: -x[0])
    if len(won) == 1:
        tail = f"; {labels.get(won[0][1], won[0][1])} is the largest winner on every seed"
    else:
        tail = (
            "; seeds won as the largest winner: "
            + ", ".join(f"{labels.get(k, k)} {_count(p, n)}" for p, k in won)
            + " (a seed's tie counts in part for each)"
        )
    return head + "; ".join(words) + tail + "."


def _count(p: float, n: int) -> str:
    k = p * n
    return f"{k:.0f} of {n}" if abs(k - round(k)) < 1e-9 else f"{k:.1f} of {n}"


def render(
    report: Mapping[str, Any],
    layer_order: Sequence[str] | None = None,
    labels: Mapping[str, str] | None = None,
) -> list[str]:
    """The robustness as text: by layer and by firm, seeds won and mean share [interval]."""
    from stackgame.simulation.report import table

    labels = labels or {}
    n = report["n_seeds"]
    ci = f"{report['confidence']:.0%} CI"
    out = [
        f"Robustness: {n} seed(s), {_span(report['seeds'])}"
        + (f"; {NO_INTERVAL}" if n == 1 else " (common random numbers)"),
    ]
    for level, title, order in (
        ("layer", "By layer", list(reversed(layer_order or []))),
        ("firm", "By firm", []),
    ):
        iv = report["intervals"][level]
        freq = report["winner_frequency"][level]
        names = order or sorted(iv, key=lambda k: -iv[k]["mean"])
        rows = [
            [
                labels.get(k, k),
                _count(freq[k], n),
                iv[k]["mean"],
                "-" if iv[k]["low"] is None else f"[{iv[k]['low']:.1%}, {iv[k]['high']:.1%}]",
            ]
            for k in names
        ]
        out += ["", table([level, "seeds won", "mean share", ci], rows, title)]
    return out
