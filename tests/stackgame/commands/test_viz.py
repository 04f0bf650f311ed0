"""``stackgame viz``: its arguments, the solara line, the checks before serving, the serve loop."""

from __future__ import annotations

import argparse
import signal
import socket

import pytest

from stackgame.commands import viz as viz_command
from stackgame.errors import UserError


def parse(argv):
    parser = argparse.ArgumentParser()
    viz_command.register(parser.add_subparsers())
    return parser.parse_args(["viz", *argv])


def test_command_defaults_and_solara_line():
    args = parse([])
    assert (args.host, args.port, args.seed, args.open) == ("127.0.0.1", 8765, 0, False)
    args = parse(["--host", "0.0.0.0", "--port", "8800", "--seed", "7"])
    assert (args.host, args.port, args.seed) == ("0.0.0.0", 8800, 7)
    line = viz_command.solara_command("127.0.0.1", 8800)
    assert line[1:5] == ["-m", "solara", "run", "stackgame.viz.app"]
    assert ["--host", "127.0.0.1", "--port", "8800"] == line[5:9]
    assert "--no-check-version" in line  # no call to PyPI at start-up
    assert "--no-open" in line


def test_command_refuses_a_busy_port_and_bad_values():
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(UserError, match=f"--port {port}: cannot listen on 127.0.0.1:{port}"):
            viz_command.check_address("127.0.0.1", port)
        with pytest.raises(UserError, match=f"--port {port}: cannot listen"):
            parse(["--port", str(port)]).handler(parse(["--port", str(port)]))
    with pytest.raises(UserError, match="--port 0: must be between 1 and 65535"):
        viz_command.check_address("127.0.0.1", 0)
    with pytest.raises(UserError, match="--host 'no.such.host.invalid'"):
        viz_command.check_address("no.such.host.invalid", 8765)


def test_command_names_a_missing_viz_extra(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "solara_assets" else real(name)
    )
    with pytest.raises(UserError, match=r"needs solara_assets .*pip install 'stackgame\[viz\]'"):
        viz_command.check_installed()


def test_cli_prints_one_line_and_exits_2_on_a_busy_port(capsys):
    from stackgame.cli import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["viz", "--port", str(port)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith(f"stackgame viz: error: --port {port}: cannot listen")


class _FakeProcess:
    """Stands in for the solara server: ``wait`` returns ``code`` or raises."""

    def __init__(self, code: int | BaseException) -> None:
        self.code = code
        self.terminated = 0
        self.waits: list[float | None] = []

    def wait(self, timeout: float | None = None) -> int:
        self.waits.append(timeout)
        if isinstance(self.code, BaseException) and len(self.waits) == 1:
            raise self.code
        return self.code if isinstance(self.code, int) else 0

    def terminate(self) -> None:
        self.terminated += 1


@pytest.fixture
def served(monkeypatch):
    """Run the command against a fake server on a free port; returns what it was given."""
    import subprocess

    seen: dict = {}

    def popen(argv, env):
        seen["argv"], seen["env"] = argv, env
        return seen["process"]

    monkeypatch.setattr(subprocess, "Popen", popen)
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        seen["port"] = free.getsockname()[1]
    return seen


@pytest.mark.parametrize(
    ("code", "expected"), [(0, 0), (-signal.SIGTERM, 0), (-signal.SIGINT, 0), (3, 3)]
)
def test_run_serves_with_the_seed_and_maps_a_stop_to_success(served, capsys, code, expected):
    served["process"] = _FakeProcess(code)
    args = parse(["--port", str(served["port"]), "--seed", "7", "--open"])
    before = signal.getsignal(signal.SIGTERM)
    assert args.handler(args) == expected
    assert served["env"][viz_command.SEED_VARIABLE] == "7"
    assert "--open" in served["argv"] and "--no-open" not in served["argv"]
    assert signal.getsignal(signal.SIGTERM) is before  # the previous handler is back
    err = capsys.readouterr().err
    assert err == f"stackgame viz: serving on http://127.0.0.1:{served['port']} (Ctrl-C stops)\n"


def test_run_stops_the_server_on_sigterm(served):
    process = _FakeProcess(0)
    served["process"] = process

    def wait(timeout=None):
        signal.getsignal(signal.SIGTERM)(signal.SIGTERM, None)  # `kill` arrives meanwhile
        return -signal.SIGTERM

    process.wait = wait  # type: ignore[method-assign]
    args = parse(["--port", str(served["port"])])
    assert args.handler(args) == 0
    assert process.terminated == 1


def test_ctrl_c_terminates_the_server_and_propagates(served):
    process = _FakeProcess(KeyboardInterrupt())
    served["process"] = process
    args = parse(["--port", str(served["port"])])
    with pytest.raises(KeyboardInterrupt):
        args.handler(args)
    assert process.terminated == 1 and process.waits == [None, 10]
