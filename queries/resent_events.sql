-- Re-sent events: every event_id carried by more than one play row, with the number
-- of rows (copies). Few rows, so classified_plays sorts only these events' copies
-- and passes every other play through with a hash anti-join.
--
-- Without a hash table of every event_id: each id falls in one of 2^b buckets
-- (event_bucket; the session takes at least 16 a play, up to 2^33), a first pass keeps
-- the buckets hit more than once (repeated_buckets, a bitmap), and only the plays of
-- those buckets, the re-sent events and about 5 % of the others at 50 million plays,
-- are grouped by event_id.
WITH repeated AS (
    SELECT UNNEST(repeated_buckets(event_bucket(event_id))) AS bucket
    FROM plays
)
SELECT p.event_id, COUNT(*) AS copies
FROM repeated AS r
JOIN plays AS p ON event_bucket(p.event_id) = r.bucket
GROUP BY p.event_id
HAVING COUNT(*) > 1
