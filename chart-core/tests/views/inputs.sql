-- Hand-made inputs of the per-view tests (tests/views.rs): a few plays that hit every
-- rule of GM-1. Times are UTC; Asia/Shanghai is UTC+8, so the business day (from
-- 06:00 local) starts at 22:00 UTC the day before.
--
-- Venues: V1 and V2 connected in Guangdong (two cities), V3 in Sichuan, V4 licensed
-- and not connected. Songs: S1 old, S2 released 2024-10-01 (new), S3 released after
-- the period (not new in November), S4 without a release date.
CREATE TABLE venues AS SELECT
    venue_id, name, province, city, CAST(rooms AS INT) AS rooms,
    CAST(licensed_since AS DATE) AS licensed_since, CAST(connected_on AS DATE) AS connected_on
FROM (VALUES
    ('V1', 'Star KTV', '广东', '广州', 20, '2020-01-01', '2023-06-01'),
    ('V2', 'Moon KTV', '广东', '深圳', 12, '2021-01-01', '2024-10-15'),
    ('V3', 'Panda KTV', '四川', '成都', 30, '2022-01-01', '2024-11-20'),
    ('V4', 'Quiet KTV', '四川', '绵阳', 8, '2023-01-01', NULL)
) AS v(venue_id, name, province, city, rooms, licensed_since, connected_on);

CREATE TABLE songs AS SELECT
    song_id, title, artist, CAST(release_date AS DATE) AS release_date, rights_holder_id, language
FROM (VALUES
    ('S1', '月亮代表我的心', '邓丽君', '1977-01-01', 'RH1', 'zh'),
    ('S2', '新歌', '歌手甲', '2024-10-01', 'RH2', 'zh'),
    ('S3', '明年的歌', '歌手乙', '2025-01-10', 'RH2', 'zh'),
    ('S4', '无日期', '歌手丙', NULL, NULL, NULL)
) AS s(song_id, title, artist, release_date, rights_holder_id, language);

CREATE TABLE plays AS SELECT
    event_id, venue_id, room_id, song_id,
    arrow_cast(CAST(started_at AS TIMESTAMP), 'Timestamp(Millisecond, Some("UTC"))') AS started_at,
    CAST(played_ms AS INT) AS played_ms, vod_vendor
FROM (VALUES
    -- Three copies of one event: the earliest, then longest, copy is kept (200 s).
    ('dup', 'V1', 'R1', 'S1', '2024-11-10 13:00:00', 20000, 'vendor-a'),
    ('dup', 'V1', 'R1', 'S1', '2024-11-10 13:00:00', 200000, 'vendor-a'),
    ('dup', 'V1', 'R1', 'S1', '2024-11-10 13:00:01', 250000, 'vendor-a'),
    -- A room that loops one song: four valid plays, three count (room cap).
    ('loop-1', 'V1', 'R2', 'S2', '2024-11-10 13:00:00', 180000, 'vendor-a'),
    ('loop-2', 'V1', 'R2', 'S2', '2024-11-10 13:04:00', 180000, 'vendor-a'),
    ('loop-3', 'V1', 'R2', 'S2', '2024-11-10 13:08:00', 180000, 'vendor-a'),
    ('loop-4', 'V1', 'R2', 'S2', '2024-11-10 13:12:00', 180000, 'vendor-a'),
    -- The shortest play that counts, and one just short of it.
    ('short', 'V2', 'R1', 'S2', '2024-11-11 12:00:00', 29999, 'vendor-b'),
    ('just', 'V2', 'R1', 'S2', '2024-11-11 12:01:00', 30000, 'vendor-b'),
    -- Missing values: no event id, no song.
    (NULL, 'V2', 'R1', 'S1', '2024-11-11 12:05:00', 200000, 'vendor-b'),
    ('nosong', 'V2', 'R1', NULL, '2024-11-11 12:06:00', 200000, 'vendor-b'),
    -- Unknown song, unknown venue.
    ('unknown-song', 'V2', 'R2', 'S9', '2024-11-11 12:07:00', 200000, 'vendor-b'),
    ('unknown-venue', 'V9', 'R1', 'S1', '2024-11-11 12:08:00', 200000, 'vendor-c'),
    -- Around the 06:00 boundary at the turn of the month: 05:59 on 1 December local
    -- is still November; 06:00 is December.
    ('nov-late', 'V3', 'R1', 'S3', '2024-11-30 21:59:00', 200000, 'vendor-c'),
    ('dec-first', 'V3', 'R1', 'S3', '2024-11-30 22:00:00', 200000, 'vendor-c'),
    ('sichuan', 'V3', 'R2', 'S1', '2024-11-21 12:00:00', 200000, 'vendor-c'),
    -- A song without a release date, and October plays for the chart's history.
    ('undated', 'V1', 'R3', 'S4', '2024-11-12 12:00:00', 200000, 'vendor-a'),
    ('oct-1', 'V1', 'R1', 'S2', '2024-10-20 12:00:00', 200000, 'vendor-a'),
    ('oct-2', 'V2', 'R1', 'S1', '2024-10-20 12:00:00', 200000, 'vendor-b'),
    ('oct-3', 'V2', 'R2', 'S1', '2024-10-21 12:00:00', 200000, 'vendor-b')
) AS p(event_id, venue_id, room_id, song_id, started_at, played_ms, vod_vendor);
