-- The view hot_chart over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM hot_chart ORDER BY period_kind, period, rank;
