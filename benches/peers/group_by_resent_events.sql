-- Peer of queries/resent_events.sql: one hash aggregate over every play's event_id
-- (the formulation before the bucket pre-filter).
SELECT event_id, COUNT(*) AS copies
FROM plays
WHERE event_id IS NOT NULL
GROUP BY event_id
HAVING COUNT(*) > 1
