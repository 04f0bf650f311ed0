import numpy as np
import pytest
from stackgame.strategies import RESTRAIN, Action, Observation, Posture, Strategy, all_strategies
from stackgame.strategies.base import Classifier

from stackgame.errors import UserError
from stackgame.tournaments.games import GAMES, MatrixGame, get_game, match_length, play_match

PD = GAMES["prisoners-dilemma"]


class Recorder(Strategy):
    """Scripted rival: plays a fixed sequence and keeps every observation it saw."""

    name = "recorder_for_tests"  # never registered
    classifier = Classifier(memory_depth=float("inf"))

    def __init__(self, script="C"):
        super().__init__()
        self.script = script
        self.seen: list[Observation] = []

    def reset(self, rng=None):
        super().reset(rng)
        self.seen = []

    def decide(self, observation):
        self.seen.append(observation)
        letter = self.script[observation.round % len(self.script)]
        return Action.uniform(Posture.RESTRAIN if letter == "C" else Posture.EXTRACT)


def test_classic_tables_are_the_textbook_games():
    r, s, t, p = PD.rstp
    assert (r, s, t, p) == (3, 0, 5, 1)
    assert t > r > p > s and 2 * r > t + s
    r, s, t, p = GAMES["chicken"].rstp
    assert t > r > s > p
    r, s, t, p = GAMES["stag-hunt"].rstp
    assert r > t >= p > s
    assert PD.payoff(Posture.EXTRACT, Posture.RESTRAIN) == 5


def test_unknown_game_names_the_known_ones():
    with pytest.raises(UserError, match="prisoners-dilemma"):
        get_game("poker")
    assert get_game("PD").name == "prisoners-dilemma"
    assert get_game("stag_hunt").name == "stag-hunt"


def test_bad_table_is_rejected():
    with pytest.raises(UserError, match="non-finite"):
        MatrixGame("x", "x", ((1.0, float("nan")), (0.0, 0.0)))


def test_observation_built_for_each_player():
    a, b = Recorder("CD"), Recorder("D")
    result = play_match(PD, (a, b), seed=3, turns=4, record_moves=True)
    assert result.moves == ("CDCD", "DDDD")
    last = a.seen[-1]
    assert isinstance(last, Observation)
    assert last.round == 3 and last.firm == "player"
    assert last.counterparts == ("opponent",) and last.rivals == ("opponent",)
    assert last.counterpart_history == (Posture.EXTRACT,) * 3
    assert last.counterpart_postures == {"opponent": (Posture.EXTRACT,) * 3}
    assert last.own_postures == (Posture.RESTRAIN, Posture.EXTRACT, Posture.RESTRAIN)
    assert last.own_payoffs == (0.0, 1.0, 0.0) == last.own_margins
    assert last.stage_payoffs == ((3.0, 0.0), (5.0, 1.0))
    assert last.horizon == 4
    assert b.seen[-1].own_payoffs == (5.0, 1.0, 5.0)
    assert last.suppliers == () and dict(last.market) == {}
    # the public constructor gives an equal observation
    assert PD.observe(3, last.own_postures, last.counterpart_history, last.own_payoffs, 4) == last
    # observations stay frozen
    with pytest.raises(AttributeError):
        last.round = 9  # type: ignore[misc]


def test_scores_and_winner_follow_the_table():
    result = play_match(PD, (Recorder("C"), Recorder("D")), seed=0, turns=10)
    assert result.scores == (0.0, 50.0)
    assert result.mean_scores == (0.0, 5.0)
    assert result.winner == 1
    assert result.restraints == (10, 0)


def test_noise_flips_played_postures_at_the_rate_asked():
    cooperator = all_strategies()["always_restrain"]
    result = play_match(
        PD, (cooperator(), cooperator()), seed=5, turns=20000, noise=0.1, decision_cache={}
    )
    flipped = 1 - np.array(result.restraints) / 20000
    assert np.allclose(flipped, 0.1, atol=0.01)
    none = play_match(PD, (Recorder("C"), Recorder("C")), seed=5, turns=100, noise=0.0)
    assert none.restraints == (100, 100)
    with pytest.raises(UserError, match="noise"):
        play_match(PD, (Recorder(), Recorder()), seed=0, noise=1.5)


def test_probabilistic_end_is_geometric_and_unannounced():
    rng = np.random.default_rng(0)
    lengths = [match_length(None, 0.1, rng) for _ in range(4000)]
    assert min(lengths) >= 1
    assert abs(np.mean(lengths) - 10) < 0.5
    a = Recorder()
    play_match(PD, (a, Recorder()), seed=1, turns=None, prob_end=0.2)
    assert all(o.horizon is None for o in a.seen)


def test_same_seed_same_match_different_seed_different_match():
    cls = all_strategies()["random"]
    one = play_match(PD, (cls(), cls()), seed=11, turns=50, noise=0.05, record_moves=True)
    two = play_match(PD, (cls(), cls()), seed=11, turns=50, noise=0.05, record_moves=True)
    three = play_match(PD, (cls(), cls()), seed=12, turns=50, noise=0.05, record_moves=True)
    assert one == two
    assert one.moves != three.moves


def test_two_players_must_be_distinct_objects():
    s = Recorder()
    with pytest.raises(ValueError):
        play_match(PD, (s, s), seed=0)


RIVALS = ["cooperator", "defector", "tit_for_tat", "random", "alternator", "grudger"]


def _finite_memory():
    out = []
    for name, cls in all_strategies().items():
        c = cls.classifier
        if not c.learns and np.isfinite(c.memory_depth):
            out.append(name)
    return out


@pytest.mark.parametrize("name", _finite_memory())
def test_decision_cache_plays_exactly_as_calling_decide(name):
    """The memoisation is sound only if the classifier's memory depth is honest.

    Stochastic strategies are memoised only in calls that drew nothing, so their play,
    draws included, must be identical too.
    """
    known = all_strategies()
    cache: dict = {}
    for rival in [r for r in RIVALS if r in known]:
        for noise in (0.0, 0.1):
            for seed in (1, 2):
                kwargs = dict(turns=40, noise=noise, record_moves=True)
                plain = play_match(PD, (known[name](), known[rival]()), seed, **kwargs)
                cached = play_match(
                    PD, (known[name](), known[rival]()), seed, decision_cache=cache, **kwargs
                )
                assert plain == cached, (name, rival, noise, seed)


@pytest.mark.parametrize(
    "name", [n for n, c in all_strategies().items() if not c.classifier.stochastic]
)
def test_deterministic_strategies_ignore_the_seed(name):
    """The tournament replays a deterministic pair once; that needs this to hold."""
    known = all_strategies()
    rival = known["tit_for_tat"] if "tit_for_tat" in known else known["always_restrain"]
    a = play_match(PD, (known[name](), rival()), 1, turns=30, record_moves=True)
    b = play_match(PD, (known[name](), rival()), 99, turns=30, record_moves=True)
    assert a == b


def test_cooperator_against_tit_for_tat_matches_axelrod():
    known = all_strategies()
    if "tit_for_tat" not in known or "suspicious_tit_for_tat" not in known:
        pytest.skip("reciprocal strategies not registered")
    r = play_match(PD, (known["cooperator"](), known["suspicious_tit_for_tat"]()), 0, turns=200)
    # Axelrod 4.14: Cooperator scores 2.985 per turn against SuspiciousTitForTat
    assert r.mean_scores[0] == pytest.approx(2.985)
    r = play_match(PD, (known["tit_for_tat"](), known["defector"]()), 0, turns=200)
    assert r.mean_scores == pytest.approx((0.995, 1.02))


def test_restrain_constant_is_posture():
    assert RESTRAIN is Posture.RESTRAIN


def test_cache_keeps_strategies_with_different_parameters_apart():
    known = all_strategies()
    if "generous_tit_for_tat" not in known:
        pytest.skip("generous_tit_for_tat not registered")
    gtft, defector = known["generous_tit_for_tat"], known["always_extract"]
    cache: dict = {}
    never = play_match(PD, (gtft(p=0.0), defector()), 1, turns=50, decision_cache=cache)
    always = play_match(PD, (gtft(p=1.0), defector()), 1, turns=50, decision_cache=cache)
    assert never.restraints[0] == 1 and always.restraints[0] == 50


def test_a_stochastic_strategy_is_memoised_only_when_it_drew_nothing():
    known = all_strategies()
    if "generous_tit_for_tat" not in known:
        pytest.skip("generous_tit_for_tat not registered")
    cache: dict = {}
    play_match(
        PD, (known["generous_tit_for_tat"](), known["random"]()), 3, turns=100, decision_cache=cache
    )
    entries = {
        k: v
        for (fp, _), table in cache.items()
        if fp[0].name == "generous_tit_for_tat"
        for k, v in table.items()
    }
    # states after the opponent restrained are memoised (restrain); after an extraction
    # GTFT draws, so those states never are
    assert entries and all(v is Posture.RESTRAIN for v in entries.values())
    assert all((state & 1) == 0 for (_, state) in entries)


def test_seat_generator_draws_exactly_what_the_generator_draws():
    """Scalar draws are served from blocks; any other call first puts the generator back."""
    from stackgame.tournaments.games import _SeatGenerator

    for switch_at in (0, 1, 31, 32, 33, 100):
        plain = np.random.default_rng(np.random.SeedSequence(5, spawn_key=(1,)))
        made: list[int] = []

        def seed(made: list[int] = made) -> np.random.SeedSequence:
            made.append(1)
            return np.random.SeedSequence(5, spawn_key=(1,))

        proxy = _SeatGenerator(seed)
        assert not made  # nothing is made before the first use
        expected = [plain.random() for _ in range(switch_at)]
        got = [proxy.random() for _ in range(switch_at)]
        # other methods, a bound method kept and used later, an array draw, 32-bit draws
        expected += [plain.integers(10), plain.random(3).tolist(), plain.choice(4, p=[0.25] * 4)]
        got += [proxy.integers(10), proxy.random(3).tolist(), proxy.choice(4, p=[0.25] * 4)]
        kept, kept_plain = proxy.integers, plain.integers
        expected += [plain.random(), kept_plain(5, dtype=np.int32), plain.random()]
        got += [proxy.random(), kept(5, dtype=np.int32), proxy.random()]
        assert got == expected, switch_at
        assert proxy.bit_generator.state == plain.bit_generator.state
        assert len(made) == 1
        assert proxy.uses == switch_at + 7  # every call counts (the state look-up too)


def test_seat_generator_of_a_deterministic_player_is_never_made():
    from stackgame.tournaments.games import _SeatGenerator

    a, b = all_strategies()["tit_for_tat"](), all_strategies()["grudger"]()
    play_match(PD, (a, b), seed=3, turns=20, decision_cache={})
    assert isinstance(a.rng, _SeatGenerator) and a.rng._rng is None
    assert isinstance(b.rng, _SeatGenerator) and b.rng._rng is None


def test_a_match_that_drew_nothing_is_seed_free_and_the_same_for_every_seed():
    known = all_strategies()
    gtft, cooperator, defector = (
        known["generous_tit_for_tat"],
        known["cooperator"],
        known["defector"],
    )
    kw: dict = dict(turns=30, record_moves=True)
    calm = [play_match(PD, (gtft(), cooperator()), s, decision_cache={}, **kw) for s in range(6)]
    assert all(r.seed_free for r in calm) and all(r == calm[0] for r in calm)
    # against a defector it draws, so the seed matters and the result is not seed-free
    drawn = [play_match(PD, (gtft(), defector()), s, decision_cache={}, **kw) for s in range(6)]
    assert not any(r.seed_free for r in drawn) and len({r.moves for r in drawn}) > 1
    # noise is drawn by the match, and a generator handed uncounted cannot be vouched for
    assert not play_match(PD, (gtft(), cooperator()), 1, noise=0.01, decision_cache={}).seed_free
    assert not play_match(PD, (gtft(), cooperator()), 1, turns=30).seed_free
    assert play_match(PD, (cooperator(), known["grudger"]()), 1, turns=30).seed_free


def test_recurring_states_of_two_memoised_deterministic_players_end_the_loop_exactly():
    """The cycle shortcut: every deterministic finite-memory pair, long matches, as decided."""
    known = all_strategies()
    names = [
        n
        for n in _finite_memory()
        if not known[n].classifier.stochastic and known[n].classifier.memory_depth > 0
    ] + ["cooperator", "defector"]
    cache: dict = {}
    for i, a in enumerate(names):
        for b in names[i:]:
            for turns in (3, 257):
                kw = dict(turns=turns, record_moves=True)
                plain = play_match(PD, (known[a](), known[b]()), 1, **kw)
                cached = play_match(PD, (known[a](), known[b]()), 1, decision_cache=cache, **kw)
                assert plain == cached, (a, b, turns)
                assert len(cached.moves[0]) == len(cached.moves[1]) == turns
