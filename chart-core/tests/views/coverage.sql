-- The view coverage over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM coverage ORDER BY period_kind, period;
