-- National market coverage per chart period: the sums of coverage_by_province.sql
-- (a venue and its cities belong to one province), plus the number of provinces
-- with a connected venue.
SELECT
    period_kind, period,
    SUM(licensed_venues) AS licensed_venues,
    SUM(connected_venues) AS connected_venues,
    CASE WHEN SUM(licensed_venues) > 0
         THEN CAST(SUM(connected_venues) AS DOUBLE) / SUM(licensed_venues) END AS coverage_share,
    COUNT(*) FILTER (WHERE connected_venues > 0) AS provinces,
    SUM(cities) AS cities,
    SUM(rooms) AS rooms,
    SUM(new_venues) AS new_venues,
    SUM(new_venues_prev) AS new_venues_prev,
    CASE WHEN SUM(new_venues_prev) > 0
         THEN CAST(SUM(new_venues) AS DOUBLE) / SUM(new_venues_prev) - 1 END AS new_venues_growth,
    SUM(active_venues) AS active_venues,
    SUM(active_rooms) AS active_rooms
FROM coverage_by_province
GROUP BY period_kind, period
