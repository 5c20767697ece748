-- The view room_day_plays over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM room_day_plays ORDER BY business_day, venue_id, room_id, song_id;
