-- The view new_chart over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM new_chart ORDER BY period_kind, period, rank;
