-- The view resent_events over tests/views/inputs.sql (its rows in a total order).
SELECT * FROM resent_events ORDER BY event_id;
