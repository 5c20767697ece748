-- Both Golden Mic charts for every period with data, with their history.
--
-- * hot: every song with score > 0. new: songs released in the
--   gm_param('new_song_window_days') days up to the period's last day E,
--   i.e. release_date in (E - window, E].
-- * Order: score desc, venues desc, rooms desc, song_id asc; rank 1..N without
--   ties; the chart is the first gm_param('top_n') ranks.
-- * History per chart and period kind, from the data alone (so publishing order
--   does not matter): prev_rank in the previous period, peak_rank and
--   months_on_chart over every period up to this one, and movement NEW (first
--   time on this chart), RE (on it before, not in the previous period), UP, DOWN, SAME.
WITH eligible AS (
    SELECT 'hot' AS chart, s.*
    FROM song_period_stats AS s
    WHERE s.score > 0
    UNION ALL
    SELECT 'new' AS chart, s.*
    FROM song_period_stats AS s
    JOIN songs AS c ON c.song_id = s.song_id
    WHERE s.score > 0
      AND c.release_date <= period_end(s.period_kind, s.period)
      AND arrow_cast(period_end(s.period_kind, s.period), 'Int32')
          - arrow_cast(c.release_date, 'Int32') < gm_param('new_song_window_days')
),
ranked AS (
    SELECT
        e.*,
        CAST(ROW_NUMBER() OVER (
            PARTITION BY e.chart, e.period_kind, e.period
            ORDER BY e.score DESC, e.venues DESC, e.rooms DESC, e.song_id ASC
        ) AS BIGINT) AS rank
    FROM eligible AS e
),
charted AS (
    SELECT * FROM ranked WHERE rank <= gm_param('top_n')
),
with_history AS (
    -- A song's entries on a chart in period order: the one before this one is the
    -- previous period's when its period is the previous period.
    SELECT
        c.*,
        MIN(c.rank) OVER history AS peak_rank,
        COUNT(*) OVER history AS months_on_chart,
        CASE WHEN LAG(c.period) OVER history = previous_period(c.period_kind, c.period)
             THEN LAG(c.rank) OVER history END AS prev_rank
    FROM charted AS c
    WINDOW history AS (
        PARTITION BY c.chart, c.period_kind, c.song_id
        ORDER BY c.period
        ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW
    )
)
SELECT
    h.chart, h.period_kind, h.period, h.rank, h.song_id,
    h.score, h.plays, h.venues, h.rooms,
    h.prev_rank, h.peak_rank, h.months_on_chart,
    CASE
        WHEN h.months_on_chart = 1 THEN 'NEW'
        WHEN h.prev_rank IS NULL THEN 'RE'
        WHEN h.rank < h.prev_rank THEN 'UP'
        WHEN h.rank > h.prev_rank THEN 'DOWN'
        ELSE 'SAME'
    END AS movement
FROM with_history AS h
