"""The golden set: seeded commands whose outputs a refactor must not change.

Each case is a ``stackgame`` command line with ``--json``; its stdout, with the fields
that measure wall time or name a temporary folder removed, is stored under
``tests/golden/data/<name>.json``. ``python -m tests.golden.cases --record`` writes the
files (only when a change is meant to alter results: say so in the commit);
``tests/test_golden.py`` runs every case and compares, byte for byte after normalising.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

DATA = Path(__file__).parent / "data"

# Keys that carry wall-clock time or machine-specific paths: dropped before comparing.
VOLATILE = {
    "elapsed_seconds",
    "elapsed",
    "seconds",
    "out",
    "output",
    "out_dir",
    "path",
    "paths",
    "manifest",
    "git_revision",
    "versions",
    "started",
    "finished",
    "wall_seconds",
}

CASES: dict[str, list[str]] = {}
for _scenario in ("ai-stack-2026", "monopoly-chain", "logit-bertrand-duopoly", "cournot-duopoly"):
    for _seed in (0, 1):
        CASES[f"run-{_scenario}-seed{_seed}"] = [
            "run",
            "--scenario",
            _scenario,
            "--seed",
            str(_seed),
        ]
CASES.update(
    {
        "run-ai-stack-triggers": [
            "run",
            "--seed",
            "3",
            "--rounds",
            "30",
            "--set",
            "events.nvidia_value_pricing.enabled=true",
            "--set",
            "events.demand_bust.enabled=true",
            "--set",
            "regulator.stance=0.9",
        ],
        "run-ai-stack-learners": [
            "run",
            "--seed",
            "2",
            "--rounds",
            "16",
            "--strategy",
            "nvidia=q_learning",
            "--strategy",
            "tsmc=hedge",
            "--strategy",
            "openai=tit_for_tat",
        ],
        "tournament-classic-pd": [
            "tournament",
            "--game",
            "prisoners-dilemma",
            "--strategies",
            "cooperator,defector,tit_for_tat,grudger,random,win_stay_lose_shift",
            "--turns",
            "50",
            "--repetitions",
            "3",
            "--noise",
            "0.05",
            "--seed",
            "1",
            "--no-plots",
        ],
        "tournament-stack": [
            "tournament",
            "--scenario",
            "monopoly-chain",
            "--seats",
            "upstream_monopolist,downstream_monopolist",
            "--strategies",
            "always_restrain,always_extract,tit_for_tat",
            "--turns",
            "8",
            "--repetitions",
            "2",
            "--seed",
            "4",
            "--no-plots",
        ],
        "equilibria-monopoly-chain": [
            "equilibria",
            "--scenario",
            "monopoly-chain",
            "--seats",
            "upstream_monopolist,downstream_monopolist",
            "--repetitions",
            "3",
            "--seed",
            "7",
        ],
    }
)


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if k not in VOLATILE}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


BATCHES = {"batch-smoke": "runs/smoke.toml"}


def _batch_tables(out: Path) -> dict[str, Any]:
    import pandas as pd

    tables: dict[str, Any] = {}
    for part in ("runs", "rounds"):
        frame = pd.concat([pd.read_parquet(f) for f in sorted((out / part).glob("*.parquet"))])
        drop = [c for c in frame.columns if c in VOLATILE or "elapsed" in c or "seconds" in c]
        frame = frame.drop(columns=drop)
        frame = frame.sort_values(list(frame.columns[:3])).reset_index(drop=True)
        tables[part] = json.loads(frame.to_json(orient="split", double_precision=15))
    return tables


def run_case(name: str, out_root: Path) -> str:
    """Run one case in a subprocess and return its normalised JSON text."""
    if name in BATCHES:
        out = out_root / name
        proc = subprocess.run(
            [
                sys.executable,
                "-m",
                "stackgame",
                "batch",
                BATCHES[name],
                "--out",
                str(out),
                "--no-progress",
                "--json",
            ],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
        summary = _strip(json.loads(proc.stdout))
        summary["tables"] = _batch_tables(out)
        return json.dumps(summary, indent=1, sort_keys=True) + "\n"
    argv = list(CASES[name])
    argv += ["--out", str(out_root / name)]
    if "--json" not in argv:
        argv.append("--json")
    proc = subprocess.run(
        [sys.executable, "-m", "stackgame", *argv],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{name}: exit {proc.returncode}\n{proc.stderr[-2000:]}")
    payload = json.loads(proc.stdout)
    return json.dumps(_strip(payload), indent=1, sort_keys=True) + "\n"


def main() -> None:
    """Record every case (``--record``) or list the case names."""
    import tempfile

    if "--record" not in sys.argv:
        print("\n".join(CASES))
        return
    DATA.mkdir(exist_ok=True)
    only = [a for a in sys.argv[1:] if not a.startswith("--")]
    with tempfile.TemporaryDirectory() as tmp:
        for name in only or [*CASES, *BATCHES]:
            (DATA / f"{name}.json").write_text(run_case(name, Path(tmp)))
            print("recorded", name)


if __name__ == "__main__":
    main()
