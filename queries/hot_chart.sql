-- The hot-song chart (热歌榜) (see chart_entries.sql) of every month and year, with titles.
-- Filter on period_kind and period, e.g. WHERE period_kind = 'month' AND period = '2024-11'.
SELECT
    e.period_kind, e.period,
    e.rank, e.song_id, s.title, s.artist,
    e.score, e.plays, e.venues, e.rooms,
    e.prev_rank, e.peak_rank, e.months_on_chart, e.movement
FROM chart_entries AS e
JOIN songs AS s ON s.song_id = e.song_id
WHERE e.chart = 'hot'
