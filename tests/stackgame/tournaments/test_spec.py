import pytest

from stackgame.errors import UserError
from stackgame.tournaments.tournament import (
    TournamentSpec,
    match_seed,
    match_seeds,
    schedule,
)


def test_schedule_is_stable_and_seeds_are_per_match():
    spec = TournamentSpec(("always_restrain", "always_extract"), repetitions=3, seed=5)
    s = schedule(spec)
    assert s.profiles_total == 3 and len(s.matches) == 9
    assert [m.profile for m in s.matches[:3]] == [("always_restrain", "always_restrain")] * 3
    assert s.matches[4].seed == match_seed(5, 4) == match_seeds(5, 100)[4]
    assert len({m.seed for m in s.matches}) == 9
    assert s.matches[4].run_id == "m0000004"
    # a longer tournament keeps the seeds of the matches it shares
    more = schedule(TournamentSpec(("always_restrain", "always_extract"), repetitions=3, seed=5))
    assert more.matches[8].seed == s.matches[8].seed


def test_stack_schedule_plays_every_profile_or_a_seeded_sample():
    names = ("always_restrain", "always_extract")
    spec = TournamentSpec(names, game="stack", seats=("nvidia", "openai", "tsmc"), repetitions=2)
    s = schedule(spec)
    assert s.profiles_total == 8 and s.profiles_played == 8 and not s.sampled
    assert len({m.profile for m in s.matches}) == 8
    small = TournamentSpec(
        names, game="stack", seats=("nvidia", "openai", "tsmc"), max_profiles=3, seed=2
    )
    t = schedule(small)
    assert t.sampled and t.profiles_played == 3 and len(t.matches) == 30
    assert schedule(small) == t
    assert schedule(TournamentSpec(**{**small.to_dict(), "seed": 3})) != t


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(strategies=("nope",)), "unknown strategy"),
        (dict(strategies=("always_extract", "always_extract")), "more than once"),
        (dict(strategies=("always_extract",), noise=2.0), "noise"),
        (dict(strategies=("always_extract",), repetitions=0), "repetitions"),
        (dict(strategies=("always_extract",), turns=0), "turns"),
        (dict(strategies=("always_extract",), prob_end=1.5), "prob_end"),
        (dict(strategies=("always_extract",), game="go"), "unknown game"),
        (dict(strategies=("always_extract",), game="stack"), "seats"),
        (dict(strategies=("always_extract",), seats=("nvidia",)), "only a stack"),
    ],
)
def test_bad_spec_is_one_clear_error(kwargs, message):
    with pytest.raises(UserError, match=message):
        TournamentSpec(**kwargs)


def test_spec_round_trips_and_rejects_unknown_fields():
    spec = TournamentSpec(("always_extract",), noise=0.1, seed=3)
    assert TournamentSpec.from_dict(spec.to_dict()) == spec
    with pytest.raises(UserError, match="colour"):
        TournamentSpec.from_dict({**spec.to_dict(), "colour": 1})
