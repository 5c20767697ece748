-- The view song_period_stats over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM song_period_stats ORDER BY period_kind, period, song_id;
