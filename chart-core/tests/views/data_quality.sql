-- The view data_quality over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM data_quality ORDER BY period_kind, period;
