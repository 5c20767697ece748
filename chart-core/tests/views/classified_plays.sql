-- The view classified_plays over tests/views/inputs.sql (its rows in a total order).
SELECT event_id, copies, venue_id, room_id, song_id, business_day, exclusion
FROM classified_plays ORDER BY event_id NULLS FIRST, started_at;
