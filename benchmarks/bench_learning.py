"""Learning at the paper's scale: periods per second, tabulated path against the general one.

Two Q-learners (Calvano et al.'s baseline parameters) in ``logit-bertrand-duopoly``,
played (a) through the model, one ``StackModel.step()`` per period (the general path,
what any non-stationary stage game uses), and (b) on the stage game tabulated once
through the model, in the compiled loop of
:mod:`stackgame.tournaments.learning_kernel` (the same sessions, draw for draw).
Both measured here in the same run, best of three passes (the machine is shared), in
process CPU time and wall time. Then the projection the issue asks about: Calvano et
al.'s 1,000-session baseline (about 1.75 million periods a session with the paper's
stopping rule, measured by ``runs/calvano.toml``) on two processes, against its target
of 10 minutes.
"""

from __future__ import annotations

import time

from stackgame.strategies.learners import QLearning

SCENARIO = "logit-bertrand-duopoly"
PARAMS = {"alpha": 0.15, "gamma": 0.95, "beta": 4e-6}
GENERAL_PERIODS = 2_000
TABULATED_PERIODS = 5_000_000
BASELINE_PERIODS = 1_000 * 1_750_000  # 1,000 sessions to convergence (runs/calvano.toml)
TARGET_SECONDS = 600.0


def _general() -> tuple[float, float]:
    from stackgame.simulation.simulate import build

    model = build(SCENARIO, rounds=GENERAL_PERIODS, seed=1, collect=False,
                  strategies={"firm_1": "q_learning", "firm_2": "q_learning"})  # fmt: skip
    for firm in model.firms:
        firm.set_strategy(QLearning(**PARAMS))
    wall, cpu = time.perf_counter(), time.process_time()
    try:
        model.run()
    finally:
        model.release()
    return time.perf_counter() - wall, time.process_time() - cpu


def _tabulated() -> tuple[float, float]:
    from stackgame.tournaments.tabulated import firm_generators, play_q_session, stage_table

    table = stage_table(SCENARIO)
    learners = [QLearning(**PARAMS) for _ in table.firms]
    wall, cpu = time.perf_counter(), time.process_time()
    play_q_session(table, learners, firm_generators(1, 2), TABULATED_PERIODS,
                   q_init="uniform_rival", score_last=1000)  # fmt: skip
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    from stackgame.tournaments.tabulated import firm_generators, play_q_session, stage_table

    start = time.perf_counter()
    table = stage_table(SCENARIO)
    print(f"learning: two Q-learners in {SCENARIO} (alpha 0.15, delta 0.95, beta 4e-6)")
    print(f"  tabulating the stage game  {time.perf_counter() - start:8.2f} s "
          f"({table.payoff.shape[0]} profiles, twice, through the model)")  # fmt: skip
    start = time.perf_counter()
    play_q_session(table, [QLearning(**PARAMS) for _ in table.firms], firm_generators(0, 2), 10)
    print(f"  kernel load or compile     {time.perf_counter() - start:8.2f} s")
    general = min((_general() for _ in range(3)), key=lambda r: r[1])
    tab = min((_tabulated() for _ in range(3)), key=lambda r: r[1])
    g_wall, g_cpu = GENERAL_PERIODS / general[0], GENERAL_PERIODS / general[1]
    t_wall, t_cpu = TABULATED_PERIODS / tab[0], TABULATED_PERIODS / tab[1]
    print(f"  general path (model)       {g_wall:12,.0f} periods/s wall {g_cpu:12,.0f} cpu")
    print(f"  tabulated path             {t_wall:12,.0f} periods/s wall {t_cpu:12,.0f} cpu")
    print(f"  ratio tabulated / general  {t_cpu / g_cpu:12,.0f}x (cpu)")
    projected = BASELINE_PERIODS / (2 * t_cpu)
    print(f"  Calvano baseline, 1,000 sessions on 2 processes: about {projected:,.0f} s "
          f"of {TARGET_SECONDS:.0f} s ({TARGET_SECONDS / projected:.1f}x under the target; "
          "cpu rate, idle cores)")  # fmt: skip


if __name__ == "__main__":
    main()
