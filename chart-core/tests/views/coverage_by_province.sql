-- The view coverage_by_province over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM coverage_by_province ORDER BY period_kind, period, province;
