import numpy as np
import pytest

from stackgame import seeds


@pytest.mark.parametrize("root", [0, 7, 2**40 + 3])
def test_child_is_the_kth_spawned_child(root):
    spawned = np.random.SeedSequence(root).spawn(4)
    for k, ss in enumerate(spawned):
        mine = seeds.child(root, k)
        assert mine.spawn_key == ss.spawn_key
        assert np.array_equal(mine.generate_state(4), ss.generate_state(4))


def test_child_of_a_sequence_extends_its_key_whatever_it_spawned_before():
    parent = np.random.SeedSequence(5, spawn_key=(2,))
    expected = np.random.SeedSequence(5, spawn_key=(2,)).spawn(2)[1]
    parent.spawn(3)  # spawn is stateful; child is not
    got = seeds.child(parent, 1)
    assert got.spawn_key == (2, 1)
    assert np.array_equal(got.generate_state(2), expected.generate_state(2))


def test_children_are_spawn():
    a = [s.generate_state(1)[0] for s in seeds.children(11, 5)]
    b = [s.generate_state(1)[0] for s in np.random.SeedSequence(11).spawn(5)]
    assert a == b


def test_generator_of_the_root_is_default_rng_of_the_seed():
    assert np.array_equal(seeds.generator(9).random(5), np.random.default_rng(9).random(5))
    key = np.random.default_rng(np.random.SeedSequence(9, spawn_key=(1, 2))).random(3)
    assert np.array_equal(seeds.generator(9, 1, 2).random(3), key)


def test_seed32_and_seeds32():
    ss = np.random.SeedSequence(3)
    assert seeds.seed32(ss) == int(ss.generate_state(1, np.uint32)[0])
    assert seeds.seeds32(3, 4) == [seeds.seed32(c) for c in np.random.SeedSequence(3).spawn(4)]
    assert all(0 <= s < 2**32 for s in seeds.seeds32(3, 50))


def test_seeds63_is_prefix_stable_and_fits_int64():
    long = seeds.seeds63(seeds.child(1, 0), 100)
    assert seeds.seeds63(seeds.child(1, 0), 10) == long[:10]
    assert all(0 <= s < 2**63 for s in long)
    assert len(set(long)) == 100
    assert seeds.seeds63(seeds.child(1, 0), 0) == []
    assert seeds.seeds63(seeds.child(1, 0), -3) == []


def test_distinct_keys_give_distinct_streams():
    words = {seeds.seed32(seeds.child(4, k)) for k in range(200)}
    assert len(words) == 200
