"""GM-1 on DuckDB: one month's hot chart, new chart and coverage from a data root.

Usage: gm1_duckdb.py DATA_ROOT MONTH OUT_DIR [--threads N] [--memory-limit SIZE]

Writes hot.csv, new.csv, coverage.csv and coverage_by_province.csv to OUT_DIR with
the columns chart-job publishes. Run by benches/compare.py, which measures it.
"""

import argparse
import pathlib

import duckdb

PARAMETERS = {
    "timezone": "Asia/Shanghai",
    "day_start_minutes": 360,
    "min_played_ms": 30000,
    "room_cap": 3,
    "new_song_window_days": 365,
    "top_n": 100,
}

CHART = """
SELECT e.rank, e.song_id, s.title, s.artist, e.score, e.plays, e.venues, e.rooms,
       e.prev_rank, e.peak_rank, e.months_on_chart, e.movement
FROM chart_entries AS e JOIN songs AS s USING (song_id)
WHERE e.chart = '{chart}' AND e.period_kind = 'month' AND e.period = '{month}'
ORDER BY e.rank
"""

COVERAGE = """
SELECT period, SUM(licensed_venues) AS licensed_venues,
    SUM(connected_venues) AS connected_venues,
    CASE WHEN SUM(licensed_venues) > 0
         THEN CAST(SUM(connected_venues) AS DOUBLE) / SUM(licensed_venues) END AS coverage_share,
    COUNT(*) FILTER (WHERE connected_venues > 0) AS provinces,
    SUM(cities) AS cities, SUM(rooms) AS rooms,
    SUM(new_venues) AS new_venues, SUM(new_venues_prev) AS new_venues_prev,
    CASE WHEN SUM(new_venues_prev) > 0
         THEN CAST(SUM(new_venues) AS DOUBLE) / SUM(new_venues_prev) - 1 END AS new_venues_growth,
    SUM(active_venues) AS active_venues, SUM(active_rooms) AS active_rooms
FROM coverage_by_province
WHERE period_kind = 'month' AND period = '{month}'
GROUP BY period
"""

COVERAGE_BY_PROVINCE = """
SELECT period, province, licensed_venues, connected_venues, coverage_share, cities, rooms,
       new_venues, new_venues_prev, new_venues_growth, active_venues, active_rooms
FROM coverage_by_province
WHERE period_kind = 'month' AND period = '{month}'
ORDER BY province
"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("month")
    parser.add_argument("out")
    parser.add_argument("--threads", type=int)
    parser.add_argument("--memory-limit")
    args = parser.parse_args()
    data = pathlib.Path(args.data).resolve()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    con = duckdb.connect()
    if args.threads:
        con.execute(f"SET threads = {args.threads}")
    if args.memory_limit:
        con.execute(f"SET memory_limit = '{args.memory_limit}'")
    con.execute(
        f"""CREATE VIEW plays AS SELECT * FROM read_parquet('{data}/plays/*/*.parquet',
            hive_partitioning = true, hive_types = {{'date': DATE}})"""
    )
    con.execute(f"CREATE VIEW songs AS SELECT * FROM read_parquet('{data}/songs/*.parquet')")
    con.execute(f"CREATE VIEW venues AS SELECT * FROM read_parquet('{data}/venues/*.parquet')")
    script = (pathlib.Path(__file__).parent / "gm1.sql").read_text()
    for key, value in PARAMETERS.items():
        script = script.replace("{" + key + "}", str(value))
    con.execute(script)
    for name, query in [
        ("hot", CHART.format(chart="hot", month=args.month)),
        ("new", CHART.format(chart="new", month=args.month)),
        ("coverage", COVERAGE.format(month=args.month)),
        ("coverage_by_province", COVERAGE_BY_PROVINCE.format(month=args.month)),
    ]:
        con.execute(f"COPY ({query}) TO '{out / (name + '.csv')}' (HEADER, DELIMITER ',')")


if __name__ == "__main__":
    main()
