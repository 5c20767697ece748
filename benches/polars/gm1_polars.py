"""GM-1 on Polars: one month's hot chart, new chart and coverage from a data root.

Usage: gm1_polars.py DATA_ROOT MONTH OUT_DIR

Writes hot.csv, new.csv, coverage.csv and coverage_by_province.csv to OUT_DIR with
the columns chart-job publishes, as benches/duckdb/gm1_duckdb.py does. Run by
benches/compare.py, which measures it. The same rules as queries/*.sql in Polars'
lazy API, in the plan shape given to DuckDB: re-sent events found by grouping on
event_id, only their copies sorted, the months only. The plays are aggregated by
Polars' streaming engine (at 51M plays: 100.8 s and 9,418 MiB against 134.8 s and
12,605 MiB in memory). Polars has no memory limit.
"""

import argparse
import pathlib

import polars as pl

TIMEZONE = "Asia/Shanghai"
DAY_START_MINUTES = 360
MIN_PLAYED_MS = 30000
ROOM_CAP = 3
NEW_SONG_WINDOW_DAYS = 365
TOP_N = 100

CHART_COLUMNS = ["rank", "song_id", "title", "artist", "score", "plays", "venues", "rooms",
                 "prev_rank", "peak_rank", "months_on_chart", "movement"]
COPY_ORDER = ["event_id", "started_at", "played_ms", "venue_id", "room_id", "song_id"]


def month_start(period):
    return (period + "-01").str.to_date("%Y-%m-%d")


def room_period_plays(plays, songs, venues):
    """Valid plays and capped score per month, venue, room and song."""
    plays = plays.filter(pl.col("event_id").is_not_null())
    resent = plays.group_by("event_id").agg(pl.len().alias("copies")).filter(pl.col("copies") > 1)
    kept_copies = (
        plays.join(resent.select("event_id"), on="event_id", how="semi")
        .sort(COPY_ORDER, descending=[False, False, True, False, False, False], nulls_last=True)
        .unique(subset="event_id", keep="first", maintain_order=True)
    )
    once = plays.join(resent.select("event_id"), on="event_id", how="anti")
    local = (pl.col("started_at") - pl.duration(minutes=DAY_START_MINUTES)).dt.convert_time_zone(
        TIMEZONE)
    valid = (
        pl.concat([once, kept_copies])
        .filter(pl.all_horizontal([pl.col(c).is_not_null() for c in COPY_ORDER])
                & (pl.col("played_ms") >= MIN_PLAYED_MS))
        .join(songs.select("song_id").unique(), on="song_id", how="semi")
        .join(venues.select("venue_id").unique(), on="venue_id", how="semi")
        .with_columns(business_day=local.dt.date())
    )
    return (
        valid.group_by("business_day", "venue_id", "room_id", "song_id")
        .agg(plays=pl.len())
        .with_columns(score=pl.min_horizontal("plays", pl.lit(ROOM_CAP, pl.UInt32)),
                      period=pl.col("business_day").dt.strftime("%Y-%m"))
        .group_by("period", "venue_id", "room_id", "song_id")
        .agg(pl.col("plays").sum(), pl.col("score").sum())
    )


def chart_entries(rooms, songs):
    """Both charts of every month, with history."""
    stats = rooms.group_by("period", "song_id").agg(
        pl.col("score").sum(), pl.col("plays").sum(),
        venues=pl.col("venue_id").n_unique(), rooms=pl.len())
    period_end = month_start(pl.col("period")).dt.month_end()
    hot = stats.filter(pl.col("score") > 0).with_columns(chart=pl.lit("hot"))
    new = (
        stats.filter(pl.col("score") > 0)
        .join(songs.select("song_id", "release_date"), on="song_id")
        .filter((pl.col("release_date") <= period_end)
                & ((period_end - pl.col("release_date")).dt.total_days() < NEW_SONG_WINDOW_DAYS))
        .drop("release_date")
        .with_columns(chart=pl.lit("new"))
    )
    charted = (
        pl.concat([hot, new])
        .sort(["chart", "period", "score", "venues", "rooms", "song_id"],
              descending=[False, False, True, True, True, False])
        .with_columns(rank=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("chart", "period"))
        .filter(pl.col("rank") <= TOP_N)
    )
    history = (
        charted.sort("chart", "song_id", "period")
        .with_columns(
            peak_rank=pl.col("rank").cum_min().over("chart", "song_id"),
            months_on_chart=pl.int_range(1, pl.len() + 1, dtype=pl.Int64).over("chart", "song_id"),
            prev_period=month_start(pl.col("period")).dt.offset_by("-1mo").dt.strftime("%Y-%m"))
    )
    previous = charted.select("chart", "song_id", prev_period="period", prev_rank="rank")
    return (
        history.join(previous, on=["chart", "prev_period", "song_id"], how="left")
        .with_columns(movement=pl.when(pl.col("months_on_chart") == 1).then(pl.lit("NEW"))
                      .when(pl.col("prev_rank").is_null()).then(pl.lit("RE"))
                      .when(pl.col("rank") < pl.col("prev_rank")).then(pl.lit("UP"))
                      .when(pl.col("rank") > pl.col("prev_rank")).then(pl.lit("DOWN"))
                      .otherwise(pl.lit("SAME")))
        .join(songs.select("song_id", "title", "artist"), on="song_id")
    )


def coverage_by_province(rooms, venues):
    """Per month and province: the venue register as of the month's end, and activity."""
    periods = rooms.select("period").unique().with_columns(
        first_day=month_start(pl.col("period")),
        last_day=month_start(pl.col("period")).dt.month_end(),
        prev_first_day=month_start(pl.col("period")).dt.offset_by("-1mo"))
    periods = periods.with_columns(prev_last_day=pl.col("prev_first_day").dt.month_end())
    status = periods.join(venues, how="cross").with_columns(
        licensed=(pl.col("licensed_since") <= pl.col("last_day")).fill_null(False),
        connected=(pl.col("connected_on") <= pl.col("last_day")).fill_null(False),
        joined=pl.col("connected_on").is_between("first_day", "last_day").fill_null(False),
        joined_prev=pl.col("connected_on").is_between("prev_first_day", "prev_last_day")
        .fill_null(False))
    register = status.group_by("period", "province").agg(
        licensed_venues=pl.col("licensed").sum().cast(pl.Int64),
        connected_venues=pl.col("connected").sum().cast(pl.Int64),
        cities=pl.col("city").filter(pl.col("connected")).drop_nulls().n_unique().cast(pl.Int64),
        rooms=pl.col("rooms").cast(pl.Int64).filter(pl.col("connected")).sum(),
        new_venues=pl.col("joined").sum().cast(pl.Int64),
        new_venues_prev=pl.col("joined_prev").sum().cast(pl.Int64))
    activity = (
        rooms.select("period", "venue_id", "room_id").unique()
        .join(venues.select("venue_id", "province"), on="venue_id")
        .group_by("period", "province")
        .agg(active_venues=pl.col("venue_id").n_unique().cast(pl.Int64),
             active_rooms=pl.len().cast(pl.Int64))
    )
    return (
        register.join(activity, on=["period", "province"], how="left", nulls_equal=True)
        .with_columns(
            coverage_share=pl.when(pl.col("licensed_venues") > 0)
            .then(pl.col("connected_venues") / pl.col("licensed_venues")),
            new_venues_growth=pl.when(pl.col("new_venues_prev") > 0)
            .then(pl.col("new_venues") / pl.col("new_venues_prev") - 1),
            active_venues=pl.col("active_venues").fill_null(0),
            active_rooms=pl.col("active_rooms").fill_null(0))
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("month")
    parser.add_argument("out")
    args = parser.parse_args()
    data = pathlib.Path(args.data).resolve()
    out = pathlib.Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    # The data contract lets days' files differ: extra columns, ids dictionary-encoded,
    # timestamps of any unit and time zone, integers of any width.
    plays = pl.scan_parquet(
        data / "plays", hive_partitioning=True, hive_schema={"date": pl.Date},
        schema={"event_id": pl.String, "venue_id": pl.String, "room_id": pl.String,
                "song_id": pl.String, "started_at": pl.Datetime("us", "UTC"),
                "played_ms": pl.Int64},
        extra_columns="ignore",
        cast_options=pl.ScanCastOptions(
            integer_cast="upcast", datetime_cast=["millisecond-upcast", "nanosecond-downcast", "convert-timezone"],
            categorical_to_string="allow"))
    songs = pl.read_parquet(data / "songs").lazy()
    venues = pl.read_parquet(data / "venues").lazy()
    rooms = room_period_plays(plays, songs, venues).collect(engine="streaming").lazy()

    entries = chart_entries(rooms, songs)
    for chart in ["hot", "new"]:
        (entries.filter((pl.col("chart") == chart) & (pl.col("period") == args.month))
         .sort("rank").select(CHART_COLUMNS).collect()
         .write_csv(out / f"{chart}.csv"))

    provinces = coverage_by_province(rooms, venues).filter(pl.col("period") == args.month)
    (provinces.sort("province", nulls_last=True)
     .select("period", "province", "licensed_venues", "connected_venues", "coverage_share",
             "cities", "rooms", "new_venues", "new_venues_prev", "new_venues_growth",
             "active_venues", "active_rooms")
     .collect().write_csv(out / "coverage_by_province.csv"))
    national = provinces.group_by("period").agg(
        pl.col("licensed_venues").sum(), pl.col("connected_venues").sum(),
        provinces=(pl.col("connected_venues") > 0).sum().cast(pl.Int64),
        cities=pl.col("cities").sum(), rooms=pl.col("rooms").sum(),
        new_venues=pl.col("new_venues").sum(), new_venues_prev=pl.col("new_venues_prev").sum(),
        active_venues=pl.col("active_venues").sum(), active_rooms=pl.col("active_rooms").sum())
    (national.with_columns(
        coverage_share=pl.when(pl.col("licensed_venues") > 0)
        .then(pl.col("connected_venues") / pl.col("licensed_venues")),
        new_venues_growth=pl.when(pl.col("new_venues_prev") > 0)
        .then(pl.col("new_venues") / pl.col("new_venues_prev") - 1))
     .select("period", "licensed_venues", "connected_venues", "coverage_share", "provinces",
             "cities", "rooms", "new_venues", "new_venues_prev", "new_venues_growth",
             "active_venues", "active_rooms")
     .collect().write_csv(out / "coverage.csv"))


if __name__ == "__main__":
    main()
