-- Market coverage per chart period and province, as of the period's last day E
-- (the previous period is the month, or year, before):
--   licensed_venues   venues with licensed_since <= E
--   connected_venues  venues with connected_on <= E (joined the data platform)
--   coverage_share    connected_venues / licensed_venues
--   cities            distinct cities with a connected venue
--   rooms             rooms of the connected venues
--   new_venues        venues connected during the period; new_venues_prev: the period before
--   new_venues_growth new_venues / new_venues_prev - 1
--   active_venues, active_rooms: venues and (venue, room) with a valid play in the period
WITH periods AS (
    SELECT DISTINCT period_kind, period FROM song_period_stats
),
bounds AS (
    SELECT
        period_kind, period,
        period_start(period_kind, period) AS first_day,
        period_end(period_kind, period) AS last_day,
        period_start(period_kind, previous_period(period_kind, period)) AS prev_first_day,
        period_end(period_kind, previous_period(period_kind, period)) AS prev_last_day
    FROM periods
),
venue_status AS (
    SELECT
        b.period_kind, b.period, v.province, v.city, v.rooms,
        COALESCE(v.licensed_since <= b.last_day, false) AS licensed,
        COALESCE(v.connected_on <= b.last_day, false) AS connected,
        COALESCE(v.connected_on BETWEEN b.first_day AND b.last_day, false) AS joined,
        COALESCE(v.connected_on BETWEEN b.prev_first_day AND b.prev_last_day, false) AS joined_prev
    FROM bounds AS b
    CROSS JOIN venues AS v
),
register AS (
    SELECT
        period_kind, period, province,
        COUNT(*) FILTER (WHERE licensed) AS licensed_venues,
        COUNT(*) FILTER (WHERE connected) AS connected_venues,
        COUNT(DISTINCT city) FILTER (WHERE connected) AS cities,
        COALESCE(SUM(CAST(rooms AS BIGINT)) FILTER (WHERE connected), 0) AS rooms,
        COUNT(*) FILTER (WHERE joined) AS new_venues,
        COUNT(*) FILTER (WHERE joined_prev) AS new_venues_prev
    FROM venue_status
    GROUP BY period_kind, period, province
),
activity AS (
    SELECT
        a.period_kind, a.period, v.province,
        COUNT(DISTINCT a.venue_id) AS active_venues,
        COUNT(*) AS active_rooms
    FROM (
        SELECT DISTINCT period_kind, period, venue_id, room_id
        FROM room_period_outcomes
        WHERE exclusion IS NULL
    ) AS a
    JOIN venues AS v ON v.venue_id = a.venue_id
    GROUP BY a.period_kind, a.period, v.province
)
SELECT
    r.period_kind, r.period, r.province,
    r.licensed_venues, r.connected_venues,
    CASE WHEN r.licensed_venues > 0
         THEN CAST(r.connected_venues AS DOUBLE) / r.licensed_venues END AS coverage_share,
    r.cities, r.rooms, r.new_venues, r.new_venues_prev,
    CASE WHEN r.new_venues_prev > 0
         THEN CAST(r.new_venues AS DOUBLE) / r.new_venues_prev - 1 END AS new_venues_growth,
    COALESCE(a.active_venues, 0) AS active_venues,
    COALESCE(a.active_rooms, 0) AS active_rooms
FROM register AS r
LEFT JOIN activity AS a
    ON a.period_kind = r.period_kind AND a.period = r.period AND a.province IS NOT DISTINCT FROM r.province
