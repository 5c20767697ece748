-- The view room_day_events over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM room_day_events
ORDER BY business_day, venue_id NULLS FIRST, room_id, song_id NULLS FIRST, first_rule;
