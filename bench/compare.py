"""Before and after in one run: another commit's form submission against this checkout's.

    python -m bench.compare <commit> [--rounds 5] [--duration 8] [--path form|api]

The other commit is checked out in a temporary git worktree and served by its
own gunicorn (same settings as ``bench.run``); this checkout is served beside
it, each against its own copy of the 10k database. Rounds interleave the bare
floor, then the two sides in alternating order, so a machine that slows down
slows both; the differences are taken round by round. Both sides run on this
checkout's schema (the copies come from the migrated 10k database): compare
commits whose schemas agree, or where the newer one only adds to the older.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import common, seed
from bench.client import Client, run_load
from bench.run import CLIENTS, _count, api_submission, form_submission, hello, measure
from bench.servers import start_gunicorn

TEMPLATE_CASES = 10_000
SIDES = ("before", "after")


def _worktree(commit: str, where: Path) -> None:
    subprocess.run(["git", "worktree", "add", "--detach", str(where), commit],
                   cwd=common.PROJECT_ROOT, check=True, capture_output=True, text=True)


def compare(commit: str, *, rounds: int, duration: float, path: str,
            schools: int) -> dict[str, Any]:
    template = seed.default_name(TEMPLATE_CASES)
    seed.ensure_seeded(template, schools=schools, cases=TEMPLATE_CASES,
                       log=lambda m: print(m, file=sys.stderr))
    databases = {side: f"{common.DB_PREFIX}{side}" for side in SIDES}
    for name in databases.values():
        if common.database_exists(name):
            common.drop_database(name)
        common.create_database(name, template=template)
    operation = form_submission(schools) if path == "form" else api_submission(schools)
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "before": [], "after": []}
    with tempfile.TemporaryDirectory(prefix="safereport-compare-") as tmp:
        checkout = Path(tmp) / "before"
        _worktree(commit, checkout)
        servers = {}
        try:
            servers["floor"] = start_gunicorn(
                common.server_env(common.database_url(databases["before"])),
                app="bench.hello:app", name="floor")
            for side, cwd in (("before", checkout), ("after", None)):
                servers[side] = start_gunicorn(
                    common.server_env(common.database_url(databases[side])), name=side, cwd=cwd)
            counts_before = {side: _count(common.database_url(name), "SELECT count(*) FROM report")
                             for side, name in databases.items()}
            for r in range(rounds):
                floor = servers["floor"]
                runs["floor"].append(measure(floor, None, lambda: run_load(
                    lambda i: Client(floor.port), hello, concurrency=CLIENTS, seconds=duration)))
                for side in SIDES if r % 2 == 0 else SIDES[::-1]:
                    server = servers[side]
                    runs[side].append(measure(server, databases[side], lambda: run_load(
                        lambda i: Client(server.port), operation, concurrency=CLIENTS,
                        seconds=duration)))
                print(f"round {r + 1}/{rounds}: " + "; ".join(
                    f"{side} {runs[side][-1]['web_cpu_ms_per_op']} + "
                    f"{runs[side][-1]['db_cpu_ms_per_op']} ms" for side in SIDES), file=sys.stderr)
            stored = {side: _count(common.database_url(name), "SELECT count(*) FROM report")
                      - counts_before[side] for side, name in databases.items()}
        finally:
            for server in servers.values():
                server.stop()
            subprocess.run(["git", "worktree", "remove", "--force", str(checkout)],
                           cwd=common.PROJECT_ROOT, capture_output=True)
    for name in databases.values():
        common.drop_database(name)
    return _figures(commit, path, runs, stored)


def _figures(commit: str, path: str, runs: dict[str, list[dict[str, Any]]],
             stored: dict[str, int]) -> dict[str, Any]:
    out: dict[str, Any] = {"commit": commit, "path": path, "runs": runs}
    for side in SIDES:
        rs = runs[side]
        out[side] = {
            "ops_per_s": common.summary(r["ops_per_s"] for r in rs),
            "post_p95_ms": common.summary(r["request_latency"]["post"]["p95_ms"] for r in rs),
            "web_cpu_ms": common.summary(r["web_cpu_ms_per_op"] for r in rs),
            "db_cpu_ms": common.summary(r["db_cpu_ms_per_op"] for r in rs),
            "server_errors": sum(r["server_errors"] for r in rs),
            "stored_equals_answers": stored[side] == sum(r["ok"] for r in rs),
        }
    for key in ("web_cpu_ms_per_op", "db_cpu_ms_per_op"):
        saved = [b[key] - a[key] for b, a in zip(runs["before"], runs["after"])]
        out[f"{key}_saved"] = {"median": round(statistics.median(saved), 2),
                               "rounds_saving": sum(1 for x in saved if x > 0),
                               "rounds": len(saved)}
    out["floor_web_cpu_ms"] = common.summary(r["web_cpu_ms_per_op"] for r in runs["floor"])
    return out


def markdown(out: dict[str, Any]) -> str:
    def cell(s: dict[str, Any]) -> str:
        return f"{s['median']} ({s['min']}–{s['max']})"

    lines = [f"| {out['path']} submission, 16 clients | before ({out['commit']}) | after (this "
             "checkout) |", "| --- | --- | --- |"]
    for label, key in (("per second", "ops_per_s"), ("POST p95, ms", "post_p95_ms"),
                       ("web CPU, ms", "web_cpu_ms"), ("db CPU, ms", "db_cpu_ms")):
        lines.append(f"| {label} | {cell(out['before'][key])} | {cell(out['after'][key])} |")
    lines.append("| 5xx; stored = answered | " + " | ".join(
        f"{out[s]['server_errors']}; {'yes' if out[s]['stored_equals_answers'] else 'NO'}"
        for s in SIDES) + " |")
    web, db = out["web_cpu_ms_per_op_saved"], out["db_cpu_ms_per_op_saved"]
    lines.append(f"\nSaved per submission, round by round: web {web['median']} ms "
                 f"(in {web['rounds_saving']} of {web['rounds']} rounds), db {db['median']} ms "
                 f"(in {db['rounds_saving']} of {db['rounds']}); floor "
                 f"{cell(out['floor_web_cpu_ms'])} ms CPU a request.")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.compare",
                                     description=__doc__.split("\n")[0])
    parser.add_argument("commit", help="the commit to compare this checkout with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=float, default=8, help="seconds per side per round")
    parser.add_argument("--path", choices=("form", "api"), default="form")
    parser.add_argument("--schools", type=int, default=50)
    args = parser.parse_args(argv)
    out = compare(args.commit, rounds=args.rounds, duration=args.duration, path=args.path,
                  schools=args.schools)
    print(markdown(out))
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    (common.RESULTS_DIR / f"compare-{time.strftime('%Y%m%dT%H%M%S')}.json").write_text(
        json.dumps(out, indent=2))
    ok = all(out[s]["server_errors"] == 0 and out[s]["stored_equals_answers"] for s in SIDES)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
