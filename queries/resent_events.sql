-- Re-sent events: every event_id carried by more than one play row, with the number
-- of rows (copies). Few rows, so classified_plays sorts only these events' copies
-- and passes every other play through with a hash anti-join.
SELECT event_id, COUNT(*) AS copies
FROM plays
WHERE event_id IS NOT NULL
GROUP BY event_id
HAVING COUNT(*) > 1
