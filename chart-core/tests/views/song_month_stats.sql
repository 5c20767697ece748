-- The view song_month_stats over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM song_month_stats ORDER BY month, song_id;
