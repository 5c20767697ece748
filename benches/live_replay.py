#!/usr/bin/env python3
"""End to end: `chart-job serve` fed a whole month by `chart-job replay`, paced.

    python3 benches/live_replay.py                      # the 50M month compare.py generated
    python3 benches/live_replay.py --data DIR --rate 200000 --smoke   # any data root, no docs

A fresh service (write-ahead log, data root with the source's songs, venues and fees,
day digests, all under --work) takes every play of --data from `chart-job replay` at
--rate plays/s (16 connections, batches of up to 1,000 plays or 5 minutes of event
time, each play sent as its `vod_vendor`), in order of start, so that event time runs
through the month as it would live, about
(month's plays ÷ rate) seconds for the month. Meanwhile the live month counts what
lands and refreshes every 10 s, and the service closes the days it lands plays in
(compaction and digest: the days are past by the wall clock, so each closes as soon as
its files land, and again as late files come). Sampled every 0.5 s: the service's RSS
and the live refresh's duration. At the end, once every play has landed and been
counted: the plays landed against the source's, the rows the live month counted as they
landed, its builds from the files (the month is built at its first play and counted
from then on; a build again means plays came for a day it had closed), and each
day's close time from the service's log.

Unless --smoke, writes the figures to docs/PERFORMANCE.md.
"""

import argparse
import hashlib
import pathlib
import re
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import ingest  # noqa: E402  (the helpers of the ingestion benchmark)

ROOT = ingest.ROOT
START = "<!-- live_replay.py -->"
# The live month closes a day once the latest play counted is this far past its end. Live,
# an hour. Replayed at 200,000 plays/s a day of event time passes in about 8 s, and the
# plays in flight (16 connections' batches, the log not landed yet: about 100,000 plays)
# span hours of it at night, when the business day ends; a grace shorter than that would
# close days before their last plays land, and each such play builds the month again.
# (Batches are sent, full or not, 5 minutes of event time after their first play, as a
# live system sends what it has: `replay --batch-span`.)
GRACE = "3h"
END = "<!-- end live_replay.py -->"


def query(chart_job, data, sql):
    out = subprocess.run([chart_job, "sql", "--data", data, "--format", "csv", "-c", sql],
                         capture_output=True, text=True, check=True).stdout
    return [line for line in out.splitlines()[1:] if line]


def seconds(text):
    """A Rust Duration's Debug text (`2.31s`, `850.2ms`, `12µs`) in seconds."""
    m = re.match(r"([\d.]+)(s|ms|µs|us|ns)$", text)
    if not m:
        sys.exit(f"error: unreadable duration `{text}` in the service's log")
    return float(m.group(1)) * {"s": 1.0, "ms": 1e-3, "µs": 1e-6, "us": 1e-6, "ns": 1e-9}[m.group(2)]


def closed_days(work):
    """Each day's close times, from the service's log."""
    closes = {}
    for line in open(work / "serve.log"):
        m = re.search(r"day closed.*?day=(\S+).*?took=(\S+)", line)
        if m:
            closes.setdefault(m.group(1), []).append(seconds(m.group(2)))
    return closes


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chart-job", type=pathlib.Path, help="binary to run (default: build release)")
    parser.add_argument("--data", type=pathlib.Path, default=ROOT / "target/bench-data/plays-50000000-venue-room")
    parser.add_argument("--month", default="2024-11", help="the month whose plays are replayed")
    parser.add_argument("--rate", type=int, default=200_000, help="plays per second sent")
    parser.add_argument("--work", type=pathlib.Path, default=ROOT / "target/bench-live-replay")
    parser.add_argument("--without", choices=["day-close", "live"],
                        help="serve with --no-day-close or --no-live (what the other part costs); no docs")
    parser.add_argument("--day-close-memory", default="128M", help="serve's --day-close-memory")
    parser.add_argument("--smoke", action="store_true", help="no docs")
    args = parser.parse_args()
    if args.chart_job is None:
        subprocess.run(["cargo", "build", "--release", "--locked", "-p", "chart-job", "-p", "benches", "--bins"],
                       cwd=ROOT, check=True)
        args.chart_job = ROOT / "target/release/chart-job"
    if not (args.data / "plays").is_dir():
        sys.exit(f"error: {args.data} is not a data root (generate it with benches/compare.py)")

    work = args.work
    shutil.rmtree(work, ignore_errors=True)
    (work / "data").mkdir(parents=True)
    # The source holds only the month: every play of it is replayed.
    source = work / "source"
    (source / "plays").mkdir(parents=True)
    for table in ["songs", "venues", "fees"]:
        if (args.data / table).is_dir():
            shutil.copytree(args.data / table, work / "data" / table)
            (source / table).symlink_to((args.data / table).resolve())
    for day in sorted((args.data / "plays").iterdir()):
        if day.name.startswith(f"date={args.month}-"):
            (source / "plays" / day.name).symlink_to(day.resolve())
    vendors = query(args.chart_job, source, "SELECT DISTINCT vod_vendor FROM plays WHERE vod_vendor IS NOT NULL "
                                            "ORDER BY 1")
    names = vendors + ["(unknown)"]
    tokens = {name: f"replay-token-{i:02d}-{'x' * 16}" for i, name in enumerate(names)}
    (work / "vendors.toml").write_text("".join(
        f'[[vendor]]\nname = "{n}"\ntoken_sha256 = "{hashlib.sha256(t.encode()).hexdigest()}"\n'
        for n, t in tokens.items()))
    (work / "tokens.toml").write_text("".join(f'"{n}" = "{t}"\n' for n, t in tokens.items()))
    expected = int(query(args.chart_job, source, "SELECT count(*) FROM plays")[0])

    log = open(work / "serve.log", "w")
    server = subprocess.Popen(
        [args.chart_job, "serve", "--data", work / "data", "--wal", work / "wal", "--listen", "127.0.0.1:0",
         "--vendors", work / "vendors.toml", "--late-window", "3650d", "--max-unlanded", "4G",
         "--day-grace", GRACE, "--day-close-every", "5s", "--day-close-memory", args.day_close_memory]
        + {None: ["--day-digests", work / "digests"], "day-close": ["--no-day-close"],
           "live": ["--no-live", "--day-digests", work / "digests"]}[args.without],
        stdout=subprocess.PIPE, stderr=log, env={**ingest.os.environ, "RUST_LOG": "info"}, text=True)
    samples = []
    stop = threading.Event()
    try:
        url = server.stdout.readline().strip().removeprefix("listening on ")

        def sample():
            while not stop.is_set():
                try:
                    status = pathlib.Path(f"/proc/{server.pid}/status").read_text()
                    rss = int(re.search(r"VmRSS:\s+(\d+)", status).group(1)) / 1024
                    samples.append((time.monotonic(), rss, ingest.metric_sum(url, "ingest_live_refresh_seconds"),
                                    ingest.metric_sum(url, "ingest_landed_plays_total"),
                                    ingest.metric_sum(url, "ingest_live_heap_bytes") / 2**20))
                except Exception:  # noqa: BLE001  (a sample lost while the service is busy)
                    pass
                stop.wait(0.5)

        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        started = time.monotonic()
        replay = subprocess.run(
            [args.chart_job, "replay", "--data", source, "--to", url, "--tokens", work / "tokens.toml",
             "--fallback-vendor", "(unknown)", "--vendors", "16", "--batch", "1000", "--batch-span", "5m", "--rate", str(args.rate)],
            capture_output=True, text=True, env={**ingest.os.environ, "RUST_LOG": "warn"})
        sent_s = time.monotonic() - started
        if replay.returncode != 0:
            sys.exit(f"error: replay failed:\n{replay.stderr}")
        print(replay.stdout.strip(), f"in {sent_s:.1f} s", flush=True)
        caught_up = ingest.wait_for_quiet(url, lambda m: m("ingest_landed_plays_total") >= expected, "replay")
        days = sum(1 for _ in (source / "plays").iterdir())
        waited = time.monotonic()
        while args.without != "day-close" and len(closed_days(work)) < days:
            if time.monotonic() - waited > 900:
                sys.exit(f"error: {len(closed_days(work))} of {days} days closed 900 s after the replay")
            time.sleep(1)
        metric = lambda name: ingest.metric_sum(url, name)  # noqa: E731
        landed = metric("ingest_landed_plays_total")
        counted = metric("ingest_live_counted_rows_total")
        builds = metric("ingest_live_builds_total")
        rebuilt_rows = metric("ingest_live_rows_rebuilding_total")
        last_refresh = metric("ingest_live_refresh_seconds")
        peak = ingest.peak_rss_mib(server.pid)
        cpu = ingest.cpu_seconds(server.pid)
    except BaseException:
        server.kill()
        server.wait()
        raise
    finally:
        stop.set()
    server.send_signal(signal.SIGTERM)
    if server.wait(timeout=600) != 0:
        sys.exit(f"error: serve exited {server.returncode} after SIGTERM")
    log.close()
    closes = closed_days(work)
    firsts = [t[0] for t in closes.values()]
    with open(work / "samples.csv", "w") as out:
        out.write("seconds,rss_mib,refresh_s,landed,live_heap_mib\n")
        out.writelines(f"{t - samples[0][0]:.1f},{rss:.0f},{r:.3f},{n:.0f},{h:.0f}\n" for t, rss, r, n, h in samples)
    refreshes = [s[2] for s in samples if s[2] > 0]
    late = [s for s in samples if s[3] >= 0.9 * expected]
    figures = {
        "plays": expected, "rate": args.rate, "sent_s": sent_s, "caught_up_s": caught_up,
        "landed": landed, "counted": counted, "builds": builds, "rebuilt_rows": rebuilt_rows, "peak_rss": peak,
        "max_rss_sampled": max((s[1] for s in samples), default=0.0), "cpu_s": cpu,
        "max_live_heap": max((s[4] for s in samples), default=0.0),
        "live_heap_at_max_rss": max(samples, key=lambda s: s[1], default=(0, 0, 0, 0, 0.0))[4],
        "last_refresh": last_refresh, "max_refresh": max(refreshes, default=0.0),
        "refresh_last_tenth": max((s[2] for s in late), default=0.0),
        "days_closed": len(closes), "closes": sum(len(t) for t in closes.values()),
        "close_median": statistics.median(firsts) if firsts else 0.0,
        "close_min": min(firsts, default=0.0), "close_max": max(firsts, default=0.0),
    }
    for k, v in figures.items():
        print(f"{k}: {v:,.3f}" if isinstance(v, float) else f"{k}: {v:,}")
    if landed != expected:
        sys.exit(f"error: the service landed {landed:,.0f} plays, the source has {expected:,}")
    if args.smoke or args.without:
        return
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True,
                            text=True).stdout.strip()
    f = figures
    section = f"""{START}
`python3 benches/live_replay.py --rate {args.rate} --day-close-memory {args.day_close_memory}` at commit {commit}, {time.strftime('%Y-%m-%d')}: the {args.month} month
of `{args.data.name}` ({expected:,} plays) sent in {f['sent_s']:.0f} s by `chart-job replay` (16 connections,
batches of 1,000 plays or 5 minutes of event time) to `serve` with the live month on (days closing
{GRACE} after their end in event time: see the script), days closed and digested by the wall clock (at once: they are past); replay and
service on the same two cores. Figures until every day was closed.

| | figure | target |
|---|---:|---:|
| service peak RSS (VmHWM) | **{f['peak_rss']:,.0f} MiB** | ≤ 1 GiB |
| the live month's heap (`ingest_live_heap_bytes`, sampled): largest / at the largest RSS sampled ({f['max_rss_sampled']:,.0f} MiB) | {f['max_live_heap']:,.0f} / {f['live_heap_at_max_rss']:,.0f} MiB | |
| live refresh, last / largest in the month's last tenth / largest | {f['last_refresh'] * 1000:,.0f} / {f['refresh_last_tenth'] * 1000:,.0f} / {f['max_refresh'] * 1000:,.0f} ms | ≤ 1 s |
| plays landed (= the month's) / counted live as they landed | {f['landed']:,.0f} / {f['counted']:,.0f} | |
| live month builds from the files (the first at the month's first play) | {f['builds']:.0f} | |
| every play landed and counted, after the last was sent | {f['caught_up_s']:.1f} s | |
| day close (compaction + digest), first close of each of {f['days_closed']} days | median {f['close_median']:.2f} s ({f['close_min']:.2f} to {f['close_max']:.2f} s); {f['closes']} closes in all | |
| service CPU | {f['cpu_s']:,.0f} s | |
{END}"""
    ingest.write_section(START, END, section)


if __name__ == "__main__":
    main()
