#!/usr/bin/env python3
"""Side-by-side benchmark: chart-job publish against GM-1 on DuckDB and Polars, same files, same run.

    python3 benches/compare.py --plays 50000000            # the 2024 platform's scale
    python3 benches/compare.py --plays 20000 --smoke       # seconds: checks it still runs
    python3 benches/compare.py --plays 500000000 --memory-limit 8G --peers duckdb

Generates a month of plays (2024-11) with `chart-job generate` in the project's own
Parquet layout (once per size, under --work), then alternates, --runs times:
chart-job publish (hot + new + coverage, a fresh output root each time), GM-1 as
SQL on DuckDB (benches/duckdb/) and in Polars' lazy API (benches/polars/), chart-job
publish --day-digests twice (computing the day digests, then with them kept), chart-job
distribute (D-1 over the same month and the licence fees of every licensed venue), and each
engine's scan floor (reading the columns the charts need, nothing else). Every measured command runs in its own process:
wall time, CPU time (user + system) and peak RSS come from wait4(2). The outputs
are checked equal row for row (chart-job's against each peer's). Prints a table and, unless --smoke, writes it with
the machine and the command to docs/PERFORMANCE.md.

DuckDB and Polars are installed into target/tools/bench-venv (pip, pinned) on first use.
Polars has no memory limit: with --memory-limit, it runs without one (--peers duckdb
leaves it out, as at 500M plays: it took about 9.5 GiB at 50M).
"""

import argparse
import csv
import os
import pathlib
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
DUCKDB_VERSION = "1.4.2"
POLARS_VERSION = "1.44.2"
MONTH = "2024-11"
# Row order inside each day's files: the order the project's layout writes (README, data contract).
PLAY_ORDER = "venue-room"
CHART_COLUMNS = ["rank", "song_id", "title", "artist", "score", "plays", "venues", "rooms",
                 "prev_rank", "peak_rank", "months_on_chart", "movement"]
NEEDED_COLUMNS = ["event_id", "venue_id", "room_id", "song_id", "started_at", "played_ms"]


def measure(command, env=None):
    """Runs a command in its own process; returns (wall s, cpu s, peak RSS bytes, stdout)."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        start = time.monotonic()
        pid = os.fork()
        if pid == 0:
            os.dup2(out.fileno(), 1)
            os.dup2(err.fileno(), 2)
            os.execvpe(str(command[0]), [str(c) for c in command], env or os.environ)
        _, status, usage = os.wait4(pid, 0)
        wall = time.monotonic() - start
        out.seek(0)
        err.seek(0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.exit(f"error: {' '.join(map(str, command))} failed:\n{err.read()}")
        return wall, usage.ru_utime + usage.ru_stime, usage.ru_maxrss * 1024, out.read()


def peers_python():
    """The virtual environment with the peers' pinned packages (installed when they change)."""
    venv = ROOT / "target/tools/bench-venv"
    python = venv / "bin/python"
    pins = [f"duckdb=={DUCKDB_VERSION}", f"polars=={POLARS_VERSION}"]
    installed = venv / "pins.txt"
    if not python.exists():
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    if not installed.exists() or installed.read_text().split() != pins:
        subprocess.run([str(python), "-m", "pip", "install", "--quiet",
                        "--disable-pip-version-check"] + pins, check=True)
        installed.write_text("\n".join(pins) + "\n")
    return python


def chart_job(profile):
    # Debug builds as the tests do (the whole workspace: the same features, no rebuild).
    scope = ["--release", "-p", "chart-job"] if profile == "release" else ["--workspace"]
    subprocess.run(["cargo", "build", "--quiet"] + scope, cwd=ROOT, check=True)
    return ROOT / "target" / profile / "chart-job"


def generate(job, data, plays):
    if (data / "plays").is_dir():
        add_fees(job, data)
        return
    tmp = data.with_name(data.name + ".partial")
    shutil.rmtree(tmp, ignore_errors=True)
    print(f"generating {plays:,} plays into {data} ...", flush=True)
    subprocess.run([job, "generate", "--out", tmp, "--plays-per-month", str(plays),
                    "--first-month", MONTH, "--months", "1", "--play-order", PLAY_ORDER],
                   check=True,
                   stdout=subprocess.DEVNULL)
    tmp.rename(data)


def add_fees(job, data):
    """Data generated before the data contract had fees gets them: the fees depend only on
    the seed's venue register, so a small data root of the same seed has the same ones."""
    if (data / "fees").is_dir():
        return
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run([job, "generate", "--out", tmp, "--plays-per-month", "1000",
                        "--first-month", MONTH, "--months", "1", "--catalogue", "1000"],
                       check=True, stdout=subprocess.DEVNULL)
        if (pathlib.Path(tmp) / "venues/venues.parquet").read_bytes() != \
                (data / "venues/venues.parquet").read_bytes():
            sys.exit(f"error: {data} was generated with another venue register; remove it")
        shutil.copytree(pathlib.Path(tmp) / "fees", data / "fees")


def check_reconciled(out):
    """The distribution's reconciliation adds up to what was collected, to the fen."""
    period = out / "distribution" / f"month={MONTH}"
    manifest = sorted((period / "versions").glob("*.json"))[-1]
    import json
    row = read_csv(period / json.loads(manifest.read_text())["directory"] / "reconciliation.csv")[0]
    parts = ["management_fee_fen", "works_share_fen", "distributed_direct_fen",
             "distributed_sampled_fen", "reserve_fen"]
    if int(row["collected_fen"]) != sum(int(row[p]) for p in parts):
        sys.exit(f"error: the distribution does not reconcile: {row}")


def read_csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def same_value(a, b):
    if a == b:
        return True
    try:
        return abs(float(a) - float(b)) <= 1e-9 * max(1.0, abs(float(a)))
    except ValueError:
        return False


def check_equal(job_dir, peer_dir, peer):
    """Every published row equals the peer's, column by column."""
    for name, key in [("hot", "rank"), ("new", "rank"), ("coverage", "period"),
                      ("coverage_by_province", "province")]:
        ours = {row[key]: row for row in read_csv(job_dir / f"{name}.csv")}
        theirs = {row[key]: row for row in read_csv(peer_dir / f"{name}.csv")}
        if ours.keys() != theirs.keys():
            sys.exit(f"error: {name}: rows differ from {peer}'s: "
                     f"{sorted(ours.keys() ^ theirs.keys())[:5]}")
        for k, row in ours.items():
            for column, value in theirs[k].items():
                if not same_value(row[column], value):
                    sys.exit(f"error: {name} {key}={k} {column}: chart-job {row[column]!r}, "
                             f"{peer} {value!r}")
    return sum(len(read_csv(job_dir / f"{n}.csv")) for n in ["hot", "new", "coverage_by_province"])


def published_dir(out):
    period = out / "charts" / f"month={MONTH}"
    manifest = sorted((period / "versions").glob("*.json"))[-1]
    import json
    return period / json.loads(manifest.read_text())["directory"]


def main():
    parser = argparse.ArgumentParser(description="chart-job against DuckDB and Polars on GM-1")
    parser.add_argument("--plays", type=int, default=50_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "target/bench-data")
    parser.add_argument("--memory-limit",
                        help="for chart-job and DuckDB, e.g. 4G (default: none; Polars has none)")
    parser.add_argument("--peers", default="duckdb,polars",
                        help="the peers to run, of duckdb and polars (default: both)")
    parser.add_argument("--chart-job", type=pathlib.Path,
                        help="use this chart-job binary instead of building one")
    parser.add_argument("--no-digests", action="store_true",
                        help="leave out chart-job publish --day-digests (first and kept)")
    parser.add_argument("--smoke", action="store_true",
                        help="debug build, one run, no docs/PERFORMANCE.md: checks it runs")
    args = parser.parse_args()
    peers = [p for p in args.peers.split(",") if p]
    if not peers or set(peers) - {"duckdb", "polars"}:
        parser.error(f"--peers: expected duckdb and/or polars, got {args.peers!r}")
    profile = "debug" if args.smoke else "release"
    runs = 1 if args.smoke else args.runs

    job = args.chart_job or chart_job(profile)
    python = peers_python()
    data = args.work / f"plays-{args.plays}-{PLAY_ORDER}"
    args.work.mkdir(parents=True, exist_ok=True)
    generate(job, data, args.plays)
    runner = ROOT / "benches/duckdb/gm1_duckdb.py"
    polars_runner = ROOT / "benches/polars/gm1_polars.py"
    env = dict(os.environ, RUST_LOG="warn")
    scan_where = " AND ".join(f"{c} IS NOT NULL" for c in NEEDED_COLUMNS)
    scan_sql = f"SELECT count(*) FROM plays WHERE {scan_where}"

    figures = {k: [] for k in ["job", "digests_first", "digests_kept", "duckdb", "polars",
                               "distribute", "job_scan", "duckdb_scan", "polars_scan"]}
    for run in range(runs):
        out = args.work / f"out-{run}"
        duck_out = args.work / f"duckdb-{run}"
        polars_out = args.work / f"polars-{run}"
        kept = args.work / f"digests-{run}"
        digests_out = [args.work / f"out-digests-{run}-{i}" for i in range(2)]
        distribution_out = args.work / f"out-distribution-{run}"
        for directory in [out, duck_out, polars_out, kept, distribution_out] + digests_out:
            shutil.rmtree(directory, ignore_errors=True)
        publish = [job, "publish", "--data", data, "--month", MONTH, "--out", out]
        distribute = [job, "distribute", "--data", data, "--month", MONTH,
                      "--out", distribution_out]
        # The same publication from day digests: first computing them (none kept yet),
        # then with them kept, as a month re-published as its days land would.
        by_day = [[job, "publish", "--data", data, "--month", MONTH, "--out", d,
                   "--day-digests", kept] for d in digests_out]
        duck = [python, runner, data, MONTH, duck_out]
        polars = [python, polars_runner, data, MONTH, polars_out]
        job_scan = [job, "sql", "--data", data, "--format", "csv", "-c", scan_sql]
        duck_scan = [python, "-c",
                     "import duckdb,sys; print(duckdb.sql(\"" + scan_sql.replace(
                         "FROM plays", f"FROM read_parquet('{data}/plays/*/*.parquet')")
                     + "\").fetchall())"]
        polars_scan = [python, "-c",
                       "import polars as pl; print(pl.scan_parquet('" + str(data / "plays")
                       + "', hive_partitioning=True, extra_columns='ignore', cast_options="
                       "pl.ScanCastOptions(categorical_to_string='allow', integer_cast='upcast',"
                       " datetime_cast=['millisecond-upcast', 'nanosecond-downcast',"
                       " 'convert-timezone'])).filter(pl.all_horizontal(["
                       + ", ".join(f"pl.col('{c}').is_not_null()" for c in NEEDED_COLUMNS)
                       + "])).select(pl.len()).collect(engine='streaming'))"]
        if args.memory_limit:
            duck += ["--memory-limit", args.memory_limit]
            publish += ["--memory-limit", args.memory_limit]
            by_day = [c + ["--memory-limit", args.memory_limit] for c in by_day]
            distribute += ["--memory-limit", args.memory_limit]
        # Rotate which engine goes first, so that none always has the warmest cache.
        order = [[("job", publish)], [("distribute", distribute)]] + [
            [(p, {"duckdb": duck, "polars": polars}[p])] for p in peers]
        if not args.no_digests:
            order.append([("digests_first", by_day[0]), ("digests_kept", by_day[1])])
        order = order[run % len(order):] + order[:run % len(order)]
        order = [step for steps in order for step in steps]
        scans = [("job_scan", job_scan)] + [
            (f"{p}_scan", {"duckdb": duck_scan, "polars": polars_scan}[p]) for p in peers]
        for name, command in order + scans:
            wall, cpu, rss, _ = measure(command, env)
            figures[name].append((wall, cpu, rss))
            print(f"run {run + 1} {name:12} wall {wall:7.2f} s  cpu {cpu:7.2f} s  "
                  f"peak RSS {rss / 2**20:8.0f} MiB", flush=True)
        for peer, peer_out in [("DuckDB", duck_out), ("Polars", polars_out)]:
            if peer.lower() not in peers:
                continue
            rows = check_equal(published_dir(out), peer_out, peer)
            print(f"run {run + 1}: outputs equal to {peer}'s ({rows} rows compared)", flush=True)
        if not args.no_digests:
            for d in digests_out:
                if published_dir(d).name != published_dir(out).name:
                    sys.exit(f"error: {published_dir(d)} differs from {published_dir(out)}")
            print(f"run {run + 1}: --day-digests published the same files", flush=True)
        check_reconciled(distribution_out)
        print(f"run {run + 1}: the distribution reconciles to the fen", flush=True)

    def median(name, i):
        return statistics.median(f[i] for f in figures[name])

    lines = [
        "| | wall (s) | CPU (s) | peak RSS (MiB) |",
        "|---|---:|---:|---:|",
    ]
    polars_label = "Polars GM-1" + (" (no memory limit)" if args.memory_limit else "")
    for name, label in [("job", "chart-job publish"),
                        ("digests_first", "chart-job publish --day-digests, computing them"),
                        ("digests_kept", "chart-job publish --day-digests, kept"),
                        ("duckdb", "DuckDB GM-1"),
                        ("polars", polars_label),
                        ("distribute", "chart-job distribute (D-1)"),
                        ("job_scan", "scan floor, DataFusion"),
                        ("duckdb_scan", "scan floor, DuckDB"),
                        ("polars_scan", "scan floor, Polars")]:
        if not figures[name]:
            continue
        lines.append(f"| {label} | {median(name, 0):.2f} | {median(name, 1):.2f} | "
                     f"{median(name, 2) / 2**20:.0f} |")
    for peer, label in [(p, {"duckdb": "DuckDB", "polars": "Polars"}[p]) for p in peers]:
        lines.append(f"| chart-job / {label} | {median('job', 0) / median(peer, 0):.2f}× | "
                     f"{median('job', 1) / median(peer, 1):.2f}× | "
                     f"{median('job', 2) / median(peer, 2):.2f}× |")
    if figures["digests_kept"]:
        for peer, label in [(p, {"duckdb": "DuckDB", "polars": "Polars"}[p]) for p in peers]:
            for name, what in [("digests_first", "computing them"), ("digests_kept", "kept")]:
                lines.append(f"| --day-digests, {what} / {label} | "
                             f"{median(name, 0) / median(peer, 0):.2f}× | "
                             f"{median(name, 1) / median(peer, 1):.2f}× | "
                             f"{median(name, 2) / median(peer, 2):.2f}× |")
    lines.append(f"| distribute / publish | {median('distribute', 0) / median('job', 0):.2f}× | "
                 f"{median('distribute', 1) / median('job', 1):.2f}× | "
                 f"{median('distribute', 2) / median('job', 2):.2f}× |")
    lines.append(f"| chart-job / its scan floor | {median('job', 0) / median('job_scan', 0):.2f}× "
                 f"| | |")
    if figures["digests_kept"]:
        lines.append(f"| --day-digests, kept / its scan floor | "
                     f"{median('digests_kept', 0) / median('job_scan', 0):.2f}× | | |")
    table = "\n".join(lines)
    print(table)
    if not args.smoke:
        record(args, data, runs, table)


def record(args, data, runs, table):
    """Writes this size's figures into docs/PERFORMANCE.md, replacing earlier ones."""
    cpu = next((line.split(":", 1)[1].strip() for line in open("/proc/cpuinfo")
                if line.startswith("model name")), platform.processor())
    memory = next(int(line.split()[1]) for line in open("/proc/meminfo")
                  if line.startswith("MemTotal"))
    size = sum(f.stat().st_size for f in data.rglob("*.parquet"))
    revision = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                              capture_output=True, text=True).stdout.strip()
    command = f"python3 benches/compare.py --plays {args.plays} --runs {runs}" + (
        f" --memory-limit {args.memory_limit}" if args.memory_limit else "") + (
        f" --peers {args.peers}" if args.peers != "duckdb,polars" else "") + (
        " --no-digests" if args.no_digests else "")
    limit = f", --memory-limit {args.memory_limit}" if args.memory_limit else ""
    begin, end = f"<!-- compare.py: {args.plays} plays{limit} -->", "<!-- end -->"
    versions = ", ".join(f"{name} {version}" for name, version in
                         [("DuckDB", DUCKDB_VERSION), ("Polars", POLARS_VERSION)]
                         if name.lower() in args.peers.split(","))
    block = f"""{begin}
### {args.plays:,} plays (one month, 2024-11){limit}

`{command}` at commit {revision}, {time.strftime('%Y-%m-%d')}: {os.cpu_count()} × {cpu},
{memory / 2**20:.0f} GiB RAM, {platform.system()} {platform.release()}; {versions};
data {size / 2**20:,.0f} MiB of Parquet. Medians of {runs} runs; each command in its own process
(wall, user + system CPU and peak RSS from `wait4`); outputs checked equal row for row.

{table}
{end}"""
    doc = ROOT / "docs/PERFORMANCE.md"
    text = doc.read_text() if doc.exists() else "# Performance\n"
    if begin in text:
        head, rest = text.split(begin, 1)
        text = head + block + rest.split(end, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n" + block + "\n"
    doc.write_text(text)
    print(f"wrote {doc}")


if __name__ == "__main__":
    main()
