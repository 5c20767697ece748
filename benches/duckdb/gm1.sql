-- GM-1 in DuckDB's SQL: the peer of chart-job in the side-by-side benchmark
-- (benches/compare.py). The same rules as queries/*.sql, written for DuckDB: every
-- play once (re-sent copies dropped), its business day, the exclusions, the room
-- cap, the hot and new charts with history, and coverage. Parameters are GM-1's
-- defaults, filled in by compare.py: {timezone}, {day_start_minutes},
-- {min_played_ms}, {room_cap}, {new_song_window_days}, {top_n}; the tables plays,
-- songs and venues are views over the data root's Parquet files.

-- Re-sent events, as queries/resent_events.sql: only their copies are ranked.
CREATE TEMP TABLE resent_events AS
SELECT event_id, COUNT(*) AS copies
FROM plays
WHERE event_id IS NOT NULL
GROUP BY event_id
HAVING COUNT(*) > 1;

-- As chart-job publish --month: the figures of every month (not of the years).
CREATE TEMP TABLE room_period_plays AS
WITH kept_copies AS (
    SELECT event_id, venue_id, room_id, song_id, started_at, played_ms, date
    FROM (
        SELECT
            p.event_id, p.venue_id, p.room_id, p.song_id, p.started_at, p.played_ms, p.date,
            ROW_NUMBER() OVER (
                PARTITION BY p.event_id
                ORDER BY p.started_at ASC NULLS LAST, p.played_ms DESC NULLS LAST,
                         p.venue_id ASC NULLS LAST, p.room_id ASC NULLS LAST, p.song_id ASC NULLS LAST
            ) AS copy_number
        FROM plays AS p
        JOIN resent_events AS r ON r.event_id = p.event_id
    )
    WHERE copy_number = 1
),
copies AS (
    SELECT p.event_id, p.venue_id, p.room_id, p.song_id, p.started_at, p.played_ms, p.date
    FROM plays AS p
    ANTI JOIN resent_events AS r ON r.event_id = p.event_id
    UNION ALL
    SELECT * FROM kept_copies
),
valid_plays AS (
    SELECT
        d.venue_id, d.room_id, d.song_id,
        COALESCE(
            CAST(timezone('{timezone}', d.started_at - INTERVAL '{day_start_minutes} minutes') AS DATE),
            d.date
        ) AS business_day
    FROM copies AS d
    WHERE d.event_id IS NOT NULL
      AND d.venue_id IS NOT NULL AND d.room_id IS NOT NULL AND d.song_id IS NOT NULL
      AND d.started_at IS NOT NULL AND d.played_ms IS NOT NULL
      AND d.played_ms >= {min_played_ms}
      AND d.song_id IN (SELECT song_id FROM songs)
      AND d.venue_id IN (SELECT venue_id FROM venues)
),
room_day_plays AS (
    SELECT business_day, venue_id, room_id, song_id,
           COUNT(*) AS plays, LEAST(COUNT(*), {room_cap}) AS score
    FROM valid_plays
    GROUP BY business_day, venue_id, room_id, song_id
)
SELECT
    k.period_kind,
    CASE k.period_kind WHEN 'month' THEN strftime(r.business_day, '%Y-%m')
                       ELSE strftime(r.business_day, '%Y') END AS period,
    r.venue_id, r.room_id, r.song_id,
    SUM(r.plays) AS plays,
    SUM(r.score) AS score
FROM room_day_plays AS r
CROSS JOIN (VALUES ('month')) AS k(period_kind)
GROUP BY ALL;

CREATE TEMP MACRO period_start(kind, p) AS
    CASE kind WHEN 'month' THEN CAST(p || '-01' AS DATE) ELSE CAST(p || '-01-01' AS DATE) END;
CREATE TEMP MACRO period_end(kind, p) AS
    CASE kind WHEN 'month' THEN last_day(CAST(p || '-01' AS DATE))
              ELSE CAST(p || '-12-31' AS DATE) END;
CREATE TEMP MACRO previous_period(kind, p) AS
    CASE kind WHEN 'month' THEN strftime(CAST(p || '-01' AS DATE) - INTERVAL 1 MONTH, '%Y-%m')
              ELSE CAST(CAST(p AS INTEGER) - 1 AS VARCHAR) END;

CREATE TEMP TABLE chart_entries AS
WITH song_period_stats AS (
    SELECT period_kind, period, song_id,
           SUM(score) AS score, SUM(plays) AS plays,
           COUNT(DISTINCT venue_id) AS venues, COUNT(*) AS rooms
    FROM room_period_plays
    GROUP BY period_kind, period, song_id
),
eligible AS (
    SELECT 'hot' AS chart, s.* FROM song_period_stats AS s WHERE s.score > 0
    UNION ALL
    SELECT 'new' AS chart, s.*
    FROM song_period_stats AS s JOIN songs AS c ON c.song_id = s.song_id
    WHERE s.score > 0
      AND c.release_date <= period_end(s.period_kind, s.period)
      AND period_end(s.period_kind, s.period) - c.release_date < {new_song_window_days}
),
charted AS (
    SELECT * FROM (
        SELECT e.*, ROW_NUMBER() OVER (
            PARTITION BY e.chart, e.period_kind, e.period
            ORDER BY e.score DESC, e.venues DESC, e.rooms DESC, e.song_id ASC
        ) AS rank
        FROM eligible AS e
    ) WHERE rank <= {top_n}
),
with_history AS (
    SELECT c.*,
        MIN(c.rank) OVER history AS peak_rank,
        COUNT(*) OVER history AS months_on_chart,
        previous_period(c.period_kind, c.period) AS prev_period
    FROM charted AS c
    WINDOW history AS (
        PARTITION BY c.chart, c.period_kind, c.song_id ORDER BY c.period
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT
    h.chart, h.period_kind, h.period, h.rank, h.song_id,
    h.score, h.plays, h.venues, h.rooms,
    p.rank AS prev_rank, h.peak_rank, h.months_on_chart,
    CASE
        WHEN h.months_on_chart = 1 THEN 'NEW'
        WHEN p.rank IS NULL THEN 'RE'
        WHEN h.rank < p.rank THEN 'UP'
        WHEN h.rank > p.rank THEN 'DOWN'
        ELSE 'SAME'
    END AS movement
FROM with_history AS h
LEFT JOIN charted AS p
    ON p.chart = h.chart AND p.period_kind = h.period_kind
   AND p.period = h.prev_period AND p.song_id = h.song_id;

CREATE TEMP TABLE coverage_by_province AS
WITH bounds AS (
    SELECT period_kind, period,
        period_start(period_kind, period) AS first_day,
        period_end(period_kind, period) AS last_day,
        period_start(period_kind, previous_period(period_kind, period)) AS prev_first_day,
        period_end(period_kind, previous_period(period_kind, period)) AS prev_last_day
    FROM (SELECT DISTINCT period_kind, period FROM room_period_plays)
),
venue_status AS (
    SELECT b.period_kind, b.period, v.province, v.city, v.rooms,
        COALESCE(v.licensed_since <= b.last_day, false) AS licensed,
        COALESCE(v.connected_on <= b.last_day, false) AS connected,
        COALESCE(v.connected_on BETWEEN b.first_day AND b.last_day, false) AS joined,
        COALESCE(v.connected_on BETWEEN b.prev_first_day AND b.prev_last_day, false) AS joined_prev
    FROM bounds AS b CROSS JOIN venues AS v
),
register AS (
    SELECT period_kind, period, province,
        COUNT(*) FILTER (WHERE licensed) AS licensed_venues,
        COUNT(*) FILTER (WHERE connected) AS connected_venues,
        COUNT(DISTINCT city) FILTER (WHERE connected) AS cities,
        COALESCE(SUM(CAST(rooms AS BIGINT)) FILTER (WHERE connected), 0) AS rooms,
        COUNT(*) FILTER (WHERE joined) AS new_venues,
        COUNT(*) FILTER (WHERE joined_prev) AS new_venues_prev
    FROM venue_status
    GROUP BY period_kind, period, province
),
activity AS (
    SELECT a.period_kind, a.period, v.province,
        COUNT(DISTINCT a.venue_id) AS active_venues, COUNT(*) AS active_rooms
    FROM (SELECT DISTINCT period_kind, period, venue_id, room_id FROM room_period_plays) AS a
    JOIN venues AS v ON v.venue_id = a.venue_id
    GROUP BY a.period_kind, a.period, v.province
)
SELECT
    r.period_kind, r.period, r.province, r.licensed_venues, r.connected_venues,
    CASE WHEN r.licensed_venues > 0
         THEN CAST(r.connected_venues AS DOUBLE) / r.licensed_venues END AS coverage_share,
    r.cities, r.rooms, r.new_venues, r.new_venues_prev,
    CASE WHEN r.new_venues_prev > 0
         THEN CAST(r.new_venues AS DOUBLE) / r.new_venues_prev - 1 END AS new_venues_growth,
    COALESCE(a.active_venues, 0) AS active_venues,
    COALESCE(a.active_rooms, 0) AS active_rooms
FROM register AS r
LEFT JOIN activity AS a
    ON a.period_kind = r.period_kind AND a.period = r.period
   AND a.province IS NOT DISTINCT FROM r.province;
