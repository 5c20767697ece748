-- The view chart_entries over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM chart_entries ORDER BY chart, period_kind, period, rank;
