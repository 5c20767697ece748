-- The business month of every play with DataFusion's built-in functions instead of
-- the methodology's business_day and period_of (queries/ use those), kept as their
-- peer in benches/benches/hot_paths.rs. The default methodology's parameters are
-- written out: business days start at 06:00, Asia/Shanghai time.
SELECT
    to_char(
        arrow_cast(started_at - INTERVAL '6 hours', 'Timestamp(Millisecond, Some("Asia/Shanghai"))'),
        '%Y-%m'
    ) AS period,
    COUNT(*) AS plays
FROM plays
GROUP BY 1
ORDER BY 1
