"""User errors: a ValueError the CLI prints as one line; TOML read through the model."""

from __future__ import annotations

import pytest

from stackgame.errors import EXIT_USAGE, UserError, read_toml


def test_user_error_is_a_value_error_and_the_usage_exit_code_is_2():
    assert issubclass(UserError, ValueError)
    assert EXIT_USAGE == 2


def test_read_toml_reads_a_file(tmp_path):
    path = tmp_path / "spec.toml"
    path.write_text('name = "x"\n[demand]\nmarket_size = 2.5\n')
    assert read_toml(path) == {"name": "x", "demand": {"market_size": 2.5}}


def test_read_toml_names_the_missing_file(tmp_path):
    missing = tmp_path / "missing.toml"
    with pytest.raises(UserError, match="missing.toml"):
        read_toml(missing)


def test_read_toml_names_the_file_and_the_syntax_error(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("name = \n")
    with pytest.raises(UserError) as err:
        read_toml(path)
    assert "broken.toml" in str(err.value)
    assert len(str(err.value).splitlines()) == 1


def test_read_toml_raises_the_error_type_asked_for(tmp_path):
    class SpecError(ValueError):
        pass

    path = tmp_path / "broken.toml"
    path.write_text("= 1\n")
    with pytest.raises(SpecError):
        read_toml(path, error=SpecError, what="batch spec")


def test_interrupted_finds_ctrl_c_anywhere_in_the_chain_and_stops_on_a_cycle():
    from stackgame.errors import interrupted

    assert interrupted(KeyboardInterrupt())
    wrapped = SystemError("returned a result with an exception set")
    wrapped.__context__ = SystemError("inner")
    wrapped.__context__.__cause__ = KeyboardInterrupt()
    assert interrupted(wrapped)
    plain = SystemError("a real failure")
    assert not interrupted(plain)
    loop_a, loop_b = ValueError("a"), ValueError("b")
    loop_a.__cause__, loop_b.__cause__ = loop_b, loop_a
    assert not interrupted(loop_a)
