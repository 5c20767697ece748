-- The view room_period_plays over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM room_period_plays ORDER BY period_kind, period, venue_id, room_id, song_id;
