"""``make bench``: seed if needed, measure, print a Markdown table, write JSON.

    python -m bench.run [--sizes 10000,100000,1000000] [--quick] [--only NAME ...]

Every figure is the median of repeated runs with its spread (min–max); figures
that are compared (submission against the framework floor, the queue at each
size) come from the same run, interleaved, so a busy machine slows both alike.
Server CPU per operation (gunicorn workers, plus the PostgreSQL backends that
served them) is given beside every throughput: it is the steadiest figure on a
shared machine. See bench/README.md for what each figure means.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import subprocess
import sys
import threading
import time
from datetime import datetime, timezone
from typing import Any

import psycopg

from bench import common, seed
from bench.client import (CASE_KEY, Client, LoadResult, Recorder, report_page_fields,
                          run_load, sign_in)
from bench.servers import SmtpSink, start_gunicorn

WRITE_DB = f"{common.DB_PREFIX}write"
CLIENTS = 16
BIG_SCHOOL = seed.BIG_SCHOOL
NOOP_QUEUE = "safereport-bench-noop"


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _latencies(values: list[float]) -> dict[str, float | None]:
    def ms(q: float) -> float | None:
        v = common.percentile(values, q)
        return None if v is None else round(v * 1000, 2)

    return {"p50_ms": ms(50), "p95_ms": ms(95), "p99_ms": ms(99)}


def _server_meter(server, dbname: str | None) -> tuple[common.CpuMeter, common.CpuMeter]:  # noqa: ANN001
    web = common.CpuMeter(lambda: server.workers)
    database = common.CpuMeter(lambda: common.backend_pids(dbname) if dbname else [])
    return web, database


def measure(server, dbname: str | None, load: callable) -> dict[str, Any]:  # noqa: ANN001
    """Run ``load()`` (returning a LoadResult) and add throughput and CPU per operation."""
    web, database = _server_meter(server, dbname)
    web.start()
    database.start()
    client_cpu = time.process_time()
    result: LoadResult = load()
    client_cpu = time.process_time() - client_cpu
    web_cpu, db_cpu = web.stop(), database.stop()
    ok = result.ok
    ops = max(1, len(result.ops))
    figures = {
        "ops": len(result.ops), "ok": ok, "seconds": round(result.seconds, 2),
        "ops_per_s": round(ok / result.seconds, 1),
        "requests_per_s": round(result.request_count / result.seconds, 1),
        "web_cpu_ms_per_op": round(web_cpu * 1000 / ops, 2),
        "db_cpu_ms_per_op": round(db_cpu * 1000 / ops, 2),
        "client_cpu_ms_per_op": round(client_cpu * 1000 / ops, 2),
        "op_latency": _latencies([s for _, s, _ in result.ops]),
        "request_latency": {label: _latencies(v) for label, v in result.requests.items()},
        "statuses": {str(k): v for k, v in sorted(result.statuses.items())},
        "server_errors": sum(v for k, v in result.statuses.items() if k >= 500),
        "errors": result.errors[:5],
    }
    return figures


# -- operations ---------------------------------------------------------------------------
def _report_form(page_fields: list[tuple[str, str]], n: int,
                 rng: random.Random) -> list[tuple[str, str]]:
    critical = n % 33 == 0  # about 3%, as seeded
    platform_ = rng.choice(seed.PLATFORMS[:8])
    form = [*page_fields, ("is_danger", "yes" if critical else "no"),
            ("is_self_harm", "no"), ("details", seed._details(rng)),
            ("reporter_role", rng.choice(("target", "bystander", "parent"))),
            ("identity", "anonymous"), ("occurred_period", "this_week"),
            ("is_ongoing", rng.choice(("yes", "no"))),
            ("handles-0-platform", platform_), ("handles-0-handle", f"@bench_{n % 500}")]
    form += [("kinds", k) for k in rng.sample(seed.KINDS, 2)]
    form += [("platforms", platform_)]
    return form


def _api_body(n: int, rng: random.Random) -> dict[str, Any]:
    platform_ = rng.choice(seed.PLATFORMS[:8])
    return {"is_danger": n % 33 == 0, "is_self_harm": False, "details": seed._details(rng),
            "reporter_role": rng.choice(("target", "bystander", "parent")),
            "kinds": rng.sample(seed.KINDS, 2), "platforms": [platform_],
            "occurred_period": "this_week", "is_ongoing": False,
            "handles": [{"platform": platform_, "handle": f"@bench_{n % 500}"}]}


def form_submission(schools: int):  # noqa: ANN201
    """GET the report form, then POST it with the form's CSRF token and id (one submission)."""
    def op(client: Client, rec: Recorder, n: int) -> bool:
        rng = random.Random(n)
        slug = seed.slug_of(1 + n % schools)
        page = rec.request("get form", client.get(f"/s/{slug}/report"))
        if page.status != 200:
            rec.error(f"form page answered {page.status}")
            return False
        answer = rec.request("post", client.post(f"/s/{slug}/report",
                                                 form=_report_form(report_page_fields(page),
                                                                   n, rng)))
        if answer.status != 200 or not CASE_KEY.search(answer.text):
            rec.error(f"form post answered {answer.status}")
            return False
        return True

    return op


def api_submission(schools: int):  # noqa: ANN201
    def op(client: Client, rec: Recorder, n: int) -> bool:
        rng = random.Random(n)
        slug = seed.slug_of(1 + n % schools)
        answer = rec.request("post", client.post(f"/api/v1/schools/{slug}/reports",
                                                 json_body=_api_body(n, rng)))
        if answer.status != 201 or "case_key" not in answer.json():
            rec.error(f"api post answered {answer.status}")
            return False
        return True

    return op


def hello(client: Client, rec: Recorder, n: int) -> bool:
    return rec.request("get", client.get("/")).status == 200


def _count(url: str, query: str) -> int:
    with psycopg.connect(url) as conn:
        return conn.execute(query).fetchone()[0]


# -- figures ------------------------------------------------------------------------------
def submission_figures(args, write_url: str) -> dict[str, Any]:  # noqa: ANN001
    """The framework floor and report submission (form and API), interleaved, repeated."""
    env = common.server_env(write_url)
    floor = start_gunicorn({**env, "SAFE_REPORT_ENV": "production"}, app="bench.hello:app",
                           name="floor")
    try:
        web = start_gunicorn(env, name="submit")
    except BaseException:
        floor.stop()
        raise
    runs: dict[str, list[dict[str, Any]]] = {"floor": [], "form": [], "api": []}
    reports_before = _count(write_url, "SELECT count(*) FROM report")
    try:
        for rep in range(args.runs):
            log(f"submission run {rep + 1}/{args.runs}: floor, form, api ({args.duration} s each)")
            runs["floor"].append(measure(floor, None, lambda: run_load(
                lambda i: Client(floor.port), hello, concurrency=CLIENTS,
                seconds=args.duration)))
            runs["form"].append(measure(web, WRITE_DB, lambda: run_load(
                lambda i: Client(web.port), form_submission(args.schools),
                concurrency=CLIENTS, seconds=args.duration)))
            runs["api"].append(measure(web, WRITE_DB, lambda: run_load(
                lambda i: Client(web.port), api_submission(args.schools),
                concurrency=CLIENTS, seconds=args.duration)))
    finally:
        floor.stop()
        web.stop()
    stored = _count(write_url, "SELECT count(*) FROM report") - reports_before
    answered = sum(r["ok"] for r in runs["form"] + runs["api"])
    out: dict[str, Any] = {"runs": runs, "reports_stored": stored, "successful_answers": answered,
                           "stored_equals_answers": stored == answered}
    floor_rps = [r["requests_per_s"] for r in runs["floor"]]
    for path in ("form", "api"):
        rs = runs[path]
        out[path] = {
            "submissions_per_s": common.summary(r["ops_per_s"] for r in rs),
            "requests_per_s": common.summary(r["requests_per_s"] for r in rs),
            # Requests per second against the floor's, run by run (same minute, same load).
            "ratio_to_floor": common.summary(
                (r["requests_per_s"] / f if f else None for r, f in zip(rs, floor_rps)), 3),
            "post_p50_ms": common.summary(r["request_latency"]["post"]["p50_ms"] for r in rs),
            "post_p95_ms": common.summary(r["request_latency"]["post"]["p95_ms"] for r in rs),
            "post_p99_ms": common.summary(r["request_latency"]["post"]["p99_ms"] for r in rs),
            "submission_p95_ms": common.summary(r["op_latency"]["p95_ms"] for r in rs),
            "web_cpu_ms_per_submission": common.summary(r["web_cpu_ms_per_op"] for r in rs),
            "db_cpu_ms_per_submission": common.summary(r["db_cpu_ms_per_op"] for r in rs),
            "server_errors": sum(r["server_errors"] for r in rs),
        }
    out["floor"] = {"requests_per_s": common.summary(floor_rps),
                    "web_cpu_ms_per_request": common.summary(
                        r["web_cpu_ms_per_op"] for r in runs["floor"]),
                    "p95_ms": common.summary(r["op_latency"]["p95_ms"] for r in runs["floor"])}
    if not out["stored_equals_answers"]:
        log(f"MISMATCH: {stored} reports stored, {answered} successful answers")
    return out


def read_figures(args, name: str) -> dict[str, Any]:  # noqa: ANN001
    """Queue first page, handle searches and the dashboard through gunicorn, one client."""
    url = common.database_url(name)
    server = start_gunicorn(common.server_env(url), name=f"read-{name}")
    school = min(BIG_SCHOOL, args.schools)
    pool = seed.handle_pool(school)
    with psycopg.connect(url) as conn:
        common_handle = seed.handle_named_about(conn, school)
    pages = {"queue_first_page": "/staff/cases/",
             "search_common_handle": "/staff/cases/?q=" + common_handle.replace("@", "%40"),
             "search_rare_handle": "/staff/cases/?q=" + pool[1500][1].replace("@", "%40")}
    out: dict[str, Any] = {}
    try:
        staff = Client(server.port)
        sign_in(staff, seed.staff_email(school, "counsellor1"), common.STAFF_PASSWORD)
        lead = Client(server.port)
        email = seed.staff_email(school, "lead")
        sign_in(lead, email, common.STAFF_PASSWORD, totp_secret=seed.totp_secret(email))
        targets = [(label, staff, path, args.requests) for label, path in pages.items()]
        targets.append(("dashboard", lead, "/staff/dashboard/", args.dashboard_requests))
        per_run: dict[str, list[dict[str, Any]]] = {label: [] for label, *_ in targets}
        for rep in range(args.runs):
            # Interleaved: each run measures every page once, in the same minute.
            for label, client, path, count in targets:
                def one(c: Client, rec: Recorder, n: int, _path=path, _label=label) -> bool:  # noqa: ANN001
                    answer = rec.request(_label, client.get(_path))
                    if answer.status != 200:
                        rec.error(f"{_path} answered {answer.status}")
                    return answer.status == 200

                for _ in range(3):  # warm-up: caches and prepared statements
                    client.get(path)
                per_run[label].append(measure(server, name, lambda: run_load(
                    lambda i: Client(server.port), one, concurrency=1, seconds=60,
                    max_ops=count)))
        page = staff.get(pages["queue_first_page"])
        out["queue_rows_shown"] = page.text.count('href="/staff/cases/') - 1
        for label, rs in per_run.items():
            out[label] = {"p50_ms": common.summary(r["op_latency"]["p50_ms"] for r in rs),
                          "p95_ms": common.summary(r["op_latency"]["p95_ms"] for r in rs),
                          "web_cpu_ms": common.summary(r["web_cpu_ms_per_op"] for r in rs),
                          "db_cpu_ms": common.summary(r["db_cpu_ms_per_op"] for r in rs),
                          "server_errors": sum(r["server_errors"] for r in rs),
                          "requests": sum(r["ops"] for r in rs)}
    finally:
        server.stop()
    return out


def inproc_figures(args, name: str, cases: int) -> dict[str, Any]:  # noqa: ANN001
    """Service timings in a separate process (queue, dashboard, scans in rolled-back transactions)."""
    escalation = [1000] + ([cases // 100] if cases >= 1_000_000 or args.scan_one_percent else [])
    command = [sys.executable, "-m", "bench.inproc", name, "--count", str(args.requests),
               "--dashboard-count", str(args.dashboard_requests), "--runs", str(args.runs),
               "--escalation-due", ",".join(str(n) for n in dict.fromkeys(escalation)),
               "--stale-due", "1000"]
    result = subprocess.run(command, cwd=common.PROJECT_ROOT, capture_output=True, text=True,
                            timeout=3600, env={**os.environ, **common.server_env(
                                common.database_url(name)), "LOG_LEVEL": "warning"})
    if result.returncode != 0:
        raise RuntimeError(f"bench.inproc failed:\n{result.stderr[-3000:]}")
    raw = json.loads(result.stdout.strip().splitlines()[-1])
    scans = raw.get("scans", {})
    out = {"raw": raw}
    out["escalation"] = {due: {"seconds": common.summary((r["seconds"] for r in rs), 3),
                               "notifications_written": rs[0]["notifications_written"],
                               "cases_escalated": rs[0]["cases_escalated"]}
                         for due, rs in scans.get("escalation", {}).items()}
    out["stale"] = {due: {"seconds": common.summary((r["seconds"] for r in rs), 3),
                          "notifications_written": rs[0]["notifications_written"]}
                    for due, rs in scans.get("stale", {}).items()}
    out["digest"] = {"seconds": common.summary((r["seconds"] for r in scans.get("digest", [])), 3)}
    return out


def delivery_figures(args, write_url: str) -> dict[str, Any]:  # noqa: ANN001
    """Notifications delivered per second to a local SMTP sink by 1 and 2 worker processes."""
    sink = SmtpSink().start()
    env = {**os.environ, **common.server_env(write_url, MAIL_SERVER="127.0.0.1",
                                             MAIL_PORT=str(sink.port), LOG_LEVEL="warning")}
    out: dict[str, Any] = {"per_run": {}}
    try:
        for workers in (1, 2):
            runs = []
            for rep in range(args.runs):
                due = _queue_due_notifications(write_url, args.notifications, f"{workers}-{rep}")
                received_before = sink.received
                procs = [subprocess.Popen([sys.executable, "-m", "bench.deliver_worker"],
                                          cwd=common.PROJECT_ROOT, env=env, text=True,
                                          stdin=subprocess.PIPE, stdout=subprocess.PIPE)
                         for _ in range(workers)]
                for p in procs:
                    if p.stdout.readline().strip() != "ready":  # type: ignore[union-attr]
                        raise RuntimeError("a delivery worker did not start")
                started = time.perf_counter()
                for p in procs:
                    p.stdin.write("go\n")  # type: ignore[union-attr]
                    p.stdin.flush()  # type: ignore[union-attr]
                outputs = []
                for p in procs:
                    line = p.stdout.readline()  # type: ignore[union-attr]
                    outputs.append(json.loads(line) if line.strip() else {})
                worker_cpu = sum(o.get("cpu_seconds", 0.0) for o in outputs)
                seconds = time.perf_counter() - started
                for p in procs:
                    p.wait(timeout=30)
                sent = sum(o.get("counts", {}).get("sent", 0) for o in outputs)
                received = sink.received - received_before
                runs.append({"due": due, "sent": sent, "received_by_sink": received,
                             "seconds": round(seconds, 2),
                             "per_s": round(received / seconds, 1) if seconds else None,
                             "worker_cpu_ms_per_message": round(worker_cpu * 1000 / max(1, sent), 2),
                             "outcomes": [o.get("counts") for o in outputs]})
                log(f"delivery, {workers} worker(s): {received} messages in {seconds:.1f} s")
            out["per_run"][str(workers)] = runs
            out[f"{workers}_worker"] = {
                "per_s": common.summary(r["per_s"] for r in runs),
                "cpu_ms_per_message": common.summary(r["worker_cpu_ms_per_message"] for r in runs),
                "all_received": all(r["received_by_sink"] == r["due"] == r["sent"] for r in runs)}
    finally:
        sink.stop()
    return out


def _queue_due_notifications(url: str, count: int, tag: str) -> int:
    """Add ``count`` escalation e-mails due now; return how many are due in all."""
    with psycopg.connect(url) as conn:
        conn.execute(
            "INSERT INTO notification (school_id, key, kind, created_dt, recipient_staff_id,"
            " case_id, data, status, next_attempt_dt, attempts, is_read)"
            " SELECT c.school_id, 'bench-delivery:' || %(tag)s || ':' || %(stamp)s || ':' || c.id,"
            " 'escalation', now(), s.id, c.id,"
            " json_build_object('reference', c.reference, 'level', 1), 'pending',"
            " now() - interval '1 minute', 0, false"
            " FROM case_file c JOIN staff_user s ON s.school_id = c.school_id"
            " AND s.case_role = 'lead' WHERE c.id <= %(count)s",
            {"tag": tag, "stamp": str(time.time_ns()), "count": count})
        due = conn.execute("SELECT count(*) FROM notification WHERE status = 'pending'"
                           " AND next_attempt_dt <= now()").fetchone()[0]
        conn.commit()
    return due


def web_memory(args, write_url: str) -> dict[str, Any]:  # noqa: ANN001
    """RSS of each gunicorn worker every 1,000 requests, for 10,000 mixed requests."""
    server = start_gunicorn(common.server_env(write_url), name="memory")
    total = args.memory_requests
    samples: list[dict[str, Any]] = [{"requests": 0, "rss_mb": _rss(server.workers)}]
    school = min(BIG_SCHOOL, args.schools)
    tokens: dict[int, list[tuple[str, str]]] = {}

    def setup(client: Client, i: int) -> None:
        sign_in(client, seed.staff_email(1 + i % args.schools, "counsellor2"),
                common.STAFF_PASSWORD)

    def op(client: Client, rec: Recorder, n: int) -> bool:
        slug = seed.slug_of(school)
        step = n % 4
        key = id(client)
        if step == 0 or key not in tokens:
            page = rec.request("get form", client.get(f"/s/{slug}/report"))
            tokens[key] = report_page_fields(page)
            return page.status == 200
        if step == 1:
            answer = rec.request("post", client.post(
                f"/s/{slug}/report", form=_report_form(tokens.pop(key), n, random.Random(n))))
            return answer.status == 200
        if step == 2:
            return rec.request("queue", client.get("/staff/cases/")).status == 200
        return rec.request("start", client.get(f"/s/{slug}/")).status == 200

    done = threading.Event()
    result = LoadResult(seconds=0.0)

    def sampler() -> None:
        next_mark = 1000
        while not done.is_set():
            if len(result.ops) >= next_mark:
                samples.append({"requests": len(result.ops), "rss_mb": _rss(server.workers)})
                next_mark += 1000
            time.sleep(0.05)

    try:
        thread = threading.Thread(target=sampler, daemon=True)
        thread.start()
        try:
            run_load(lambda i: Client(server.port), op, concurrency=4,
                     seconds=args.memory_seconds, max_ops=total, setup=setup, result=result)
        finally:
            done.set()
            thread.join()
        samples.append({"requests": len(result.ops), "rss_mb": _rss(server.workers)})
    finally:
        server.stop()
    return {"requests": len(result.ops), "ok": result.ok, "samples": samples,
            "server_errors": sum(v for k, v in result.statuses.items() if k >= 500),
            "growth_after_first_1000_mb": _growth(samples)}


def _rss(pids: list[int]) -> list[float]:
    return [round(common.rss_bytes(p) / 2**20, 1) for p in sorted(pids)]


def _growth(samples: list[dict[str, Any]]) -> list[float] | None:
    """RSS at the end minus RSS after the first 1,000 requests, per worker."""
    warm = next((s for s in samples if s["requests"] >= 1000), None)
    if warm is None or len(warm["rss_mb"]) != len(samples[-1]["rss_mb"]):
        return None
    return [round(b - a, 1) for a, b in zip(warm["rss_mb"], samples[-1]["rss_mb"])]


def celery_memory(args, write_url: str) -> dict[str, Any]:  # noqa: ANN001
    """RSS of a Celery worker (solo pool) sampled every 10,000 trivial tasks."""
    import redis
    from celery import Celery

    env = {**os.environ, **common.server_env(write_url, LOG_LEVEL="warning")}
    log_path = os.path.join(env["INSTANCE_PATH"], "celery-memory.log")
    with open(log_path, "w") as log_file:
        worker = subprocess.Popen(
            [str(common.VENV_BIN / "celery"), "-A", "bench.celery_noop", "worker", "--pool",
             "solo", "-Q", NOOP_QUEUE, "--without-gossip", "--without-mingle",
             "--without-heartbeat", "--loglevel", "WARNING"],
            cwd=common.PROJECT_ROOT, env=env, stdout=log_file, stderr=subprocess.STDOUT)
    sender = Celery(broker=common.REDIS_URL)
    sender.conf.broker_transport_options = {"global_keyprefix": common.REDIS_PREFIX}
    store = redis.Redis.from_url(common.REDIS_URL)
    queue_key = common.REDIS_PREFIX + NOOP_QUEUE
    samples = []
    done = 0
    started = time.perf_counter()
    budget = args.celery_seconds
    try:
        time.sleep(3)
        samples.append({"tasks": 0, "rss_mb": round(common.rss_bytes(worker.pid) / 2**20, 1)})
        batch = 10_000
        while done < args.celery_tasks and time.perf_counter() - started < budget:
            n = min(batch, args.celery_tasks - done)
            with sender.producer_or_acquire() as producer:
                for _ in range(n):
                    sender.send_task("bench.noop", queue=NOOP_QUEUE, producer=producer,
                                     ignore_result=True)
            while store.llen(queue_key) > 0 and time.perf_counter() - started < budget:
                if worker.poll() is not None:
                    raise RuntimeError(f"the Celery worker exited with {worker.returncode}")
                time.sleep(0.2)
            if store.llen(queue_key) > 0:
                done += n - store.llen(queue_key)
                break
            done += n
            time.sleep(0.3)  # the last task of the batch finishes
            samples.append({"tasks": done,
                            "rss_mb": round(common.rss_bytes(worker.pid) / 2**20, 1)})
            log(f"celery memory: {done:,} tasks, rss {samples[-1]['rss_mb']} MB")
    finally:
        worker.terminate()
        try:
            worker.wait(timeout=20)
        except subprocess.TimeoutExpired:
            worker.kill()
        store.delete(queue_key)
    seconds = time.perf_counter() - started
    warm = next((s for s in samples if s["tasks"] >= 10_000), None)
    return {"tasks": done, "seconds": round(seconds, 1), "tasks_per_s": round(done / seconds, 1),
            "samples": samples, "complete": done >= args.celery_tasks,
            "growth_after_first_10000_mb": round(samples[-1]["rss_mb"] - warm["rss_mb"], 1)
            if warm else None}


# -- the report ------------------------------------------------------------------------------
def markdown(results: dict[str, Any]) -> str:
    f = common.fmt
    lines = [f"# Safe Report bench, {results['started']}", "",
             f"Machine: {results['machine']['cpus']} CPUs, load average at start "
             f"{results['machine']['loadavg_start']}, at end {results['machine'].get('loadavg_end')}.",
             "Figures: median of runs (min–max).", "", "| figure | measured | target |",
             "| --- | --- | --- |"]
    add = lines.append
    s = results.get("submission")
    if s:
        add(f"| framework floor (hello, 2 sync workers, {CLIENTS} clients) | "
            f"{f(s['floor']['requests_per_s'], ' req/s')}; {f(s['floor']['web_cpu_ms_per_request'], ' ms CPU/req')} | |")
        for path, label in (("form", "report submission, form (GET + POST)"),
                            ("api", "report submission, API (POST)")):
            p = s[path]
            add(f"| {label}, {CLIENTS} clients | {f(p['submissions_per_s'], ' /s')} "
                f"({f(p['requests_per_s'], ' req/s')}, {f(p['ratio_to_floor'])} of floor); "
                f"POST p50/p95/p99 {f(p['post_p50_ms'])} / {f(p['post_p95_ms'])} / {f(p['post_p99_ms'])} ms; "
                f"CPU web {f(p['web_cpu_ms_per_submission'])} + db {f(p['db_cpu_ms_per_submission'])} ms each; "
                f"5xx {p['server_errors']} | "
                + ("≥ 300/s; ≤ 4 ms CPU; p95 ≤ 40 ms |" if path == "form" else " |"))
        add(f"| reports stored = successful answers | {s['reports_stored']} = "
            f"{s['successful_answers']}: {'yes' if s['stored_equals_answers'] else 'NO'} | equal |")
    for name, r in results.get("read", {}).items():
        for label in ("queue_first_page", "search_common_handle", "search_rare_handle", "dashboard"):
            if label in r:
                x = r[label]
                target = {"queue_first_page": "p95 ≤ 35 ms", "dashboard": "p95 ≤ 300 ms (1M)"}.get(label, "")
                add(f"| {label.replace('_', ' ')} @ {name} (HTTP) | p50 {f(x['p50_ms'])} ms, "
                    f"p95 {f(x['p95_ms'])} ms; CPU web {f(x['web_cpu_ms'])} + db {f(x['db_cpu_ms'])} ms | {target} |")
    for label, ratio in results.get("ratios", {}).items():
        add(f"| {label} | {ratio} | < 1.5 |")
    for name, r in results.get("inproc", {}).items():
        raw = r["raw"]
        for label in ("queue_first_page", "search_common_handle", "search_rare_handle"):
            if label in raw.get("queue", {}):
                q = raw["queue"][label]
                add(f"| {label.replace('_', ' ')} @ {name} (service, in-process) | "
                    f"p50 {q['p50_ms']} ms, p95 {q['p95_ms']} ms | |")
        if "dashboard" in raw:
            d = raw["dashboard"]
            add(f"| dashboard services @ {name} (in-process) | total p50 {d['total']['p50_ms']} ms, "
                f"p95 {d['total']['p95_ms']} ms (now {d['now_figures']['p50_ms']}, trends "
                f"{d['trends']['p50_ms']}, repeats {d['repeat_names']['p50_ms']}; "
                f"{d['cases_in_period']} cases in the year) | |")
        for due, e in r.get("escalation", {}).items():
            add(f"| escalation scan, {int(due):,} due @ {name} | {f(e['seconds'], ' s')} "
                f"({e['notifications_written']} outbox rows) | "
                + ("≤ 0.8 s (100k)" if due == "1000" else "≤ 8 s (1M)" if due == "10000" else "")
                + " |")
        for due, e in r.get("stale", {}).items():
            add(f"| stale-case reminder scan, {int(due):,} due @ {name} | {f(e['seconds'], ' s')} "
                f"({e['notifications_written']} outbox rows) | |")
        add(f"| digest scan @ {name} | {f(r['digest']['seconds'], ' s')} | |")
    d = results.get("delivery")
    if d:
        for w in ("1", "2"):
            x = d[f"{w}_worker"]
            add(f"| delivery to SMTP sink, {w} worker process{'es' if w == '2' else ''} | "
                f"{f(x['per_s'], ' /s')}; {f(x['cpu_ms_per_message'], ' ms CPU/msg')}; "
                f"all received once: {'yes' if x['all_received'] else 'NO'} | |")
    m = results.get("web_memory")
    if m:
        add(f"| gunicorn worker RSS over {m['requests']:,} requests | "
            + " → ".join(f"{s['rss_mb']}" for s in m["samples"][::2] + [m["samples"][-1]])
            + f" MB; growth after the first 1,000: {m['growth_after_first_1000_mb']} MB | flat |")
    c = results.get("celery_memory")
    if c:
        add(f"| Celery worker RSS over {c['tasks']:,} tasks ({c['tasks_per_s']}/s) | "
            + " → ".join(f"{s['rss_mb']}" for s in c["samples"])
            + f" MB; growth after the first 10,000: {c['growth_after_first_10000_mb']} MB | flat |")
    return "\n".join(lines) + "\n"


def _ratio(results: dict[str, Any], smallest: str, largest: str) -> None:
    read = results.get("read", {})
    if smallest not in read or largest not in read:
        return
    for label in ("queue_first_page", "search_common_handle", "search_rare_handle"):
        a, b = read[smallest][label]["p95_ms"]["median"], read[largest][label]["p95_ms"]["median"]
        if a and b:
            results.setdefault("ratios", {})[f"{label} p95 {largest}/{smallest}"] = round(b / a, 2)


def _forget_redis_keys() -> None:
    """Drop the bench's keys (wake-up tasks nobody consumed, queue bindings) from Redis."""
    import redis

    store = redis.Redis.from_url(common.REDIS_URL)
    keys = list(store.scan_iter(f"{common.REDIS_PREFIX}*"))
    if keys:
        store.delete(*keys)


def _loadavg() -> str:
    """The 1, 5 and 15 minute load averages: how busy the machine was (other work counts)."""
    return ", ".join(f"{x:.2f}" for x in os.getloadavg())


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__.split("\n")[0])
    parser.add_argument("--sizes", default=os.environ.get("BENCH_SIZES", "10000,100000,1000000"))
    parser.add_argument("--schools", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10, help="seconds per throughput run")
    parser.add_argument("--requests", type=int, default=200, help="requests per latency run")
    parser.add_argument("--dashboard-requests", type=int, default=30)
    parser.add_argument("--notifications", type=int, default=1000,
                        help="e-mails per delivery run")
    parser.add_argument("--memory-requests", type=int, default=10_000)
    parser.add_argument("--memory-seconds", type=float, default=300)
    parser.add_argument("--celery-tasks", type=int, default=100_000)
    parser.add_argument("--celery-seconds", type=float, default=300)
    parser.add_argument("--scan-one-percent", action="store_true",
                        help="also make 1%% of cases due at every size, not only at 1M")
    parser.add_argument("--quick", action="store_true",
                        help="short runs (for trying the bench out; figures are rougher)")
    parser.add_argument("--only", action="append",
                        choices=("submission", "read", "inproc", "delivery", "memory", "celery"))
    args = parser.parse_args(argv)
    if args.quick:
        args.runs, args.duration, args.requests, args.dashboard_requests = 2, 4, 50, 8
        args.notifications, args.memory_requests, args.celery_tasks = 300, 3000, 20_000
    only = set(args.only or ("submission", "read", "inproc", "delivery", "memory", "celery"))
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    started = datetime.now(timezone.utc)
    results: dict[str, Any] = {
        "started": started.isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "loadavg_start": _loadavg(),
                    "python": platform.python_version()},
        "settings": {k: v for k, v in vars(args).items() if k != "only"}, "seeding": {}}
    names = {}
    for cases in sizes:
        name = seed.default_name(cases)
        names[cases] = name
        results["seeding"][name] = seed.ensure_seeded(name, schools=args.schools, cases=cases,
                                                      log=log)
    write_url = common.database_url(WRITE_DB)
    if only & {"submission", "delivery", "memory", "celery"}:
        log(f"copying {names[sizes[0]]} to {WRITE_DB} for the figures that write")
        common.create_database(WRITE_DB, template=names[sizes[0]])
    try:
        if "submission" in only:
            results["submission"] = submission_figures(args, write_url)
        if "read" in only:
            results["read"] = {}
            for cases in sizes:
                log(f"queue, search and dashboard over HTTP at {cases:,} cases")
                results["read"][names[cases]] = read_figures(args, names[cases])
            _ratio(results, names[sizes[0]], names[sizes[-1]])
        if "inproc" in only:
            results["inproc"] = {}
            for cases in sizes:
                log(f"services and scans in-process at {cases:,} cases")
                results["inproc"][names[cases]] = inproc_figures(args, names[cases], cases)
        if "delivery" in only:
            results["delivery"] = delivery_figures(args, write_url)
        if "memory" in only:
            log(f"gunicorn worker memory over {args.memory_requests:,} requests")
            results["web_memory"] = web_memory(args, write_url)
        if "celery" in only:
            log(f"Celery worker memory over up to {args.celery_tasks:,} tasks")
            results["celery_memory"] = celery_memory(args, write_url)
    finally:
        if common.database_exists(WRITE_DB):
            common.drop_database(WRITE_DB)
        _forget_redis_keys()
    results["machine"]["loadavg_end"] = _loadavg()
    results["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    common.RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    path = common.RESULTS_DIR / f"{started:%Y%m%dT%H%M%SZ}.json"
    path.write_text(json.dumps(results, indent=2, default=str))
    table = markdown(results)
    (common.RESULTS_DIR / f"{started:%Y%m%dT%H%M%SZ}.md").write_text(table)
    print(table)
    log(f"figures written to {path}")


if __name__ == "__main__":
    main()
