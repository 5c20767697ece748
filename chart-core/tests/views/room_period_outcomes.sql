-- The view room_period_outcomes over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM room_period_outcomes
ORDER BY period_kind, period, venue_id NULLS FIRST, room_id, exclusion NULLS FIRST;
