"""What the client checks share: the configuration, the queries, the reference
results of `chart-job sql` and how a client's values compare with its CSV."""

import csv
import datetime
import io
import json
import subprocess
import sys

CONFIG = json.loads(sys.argv[1])
MONTH = CONFIG["month"]

QUERIES = {
    "hot": f"SELECT * FROM hot_chart('{MONTH}', 20) ORDER BY rank",
    "new": f"SELECT * FROM new_chart('{MONTH}', 20) ORDER BY rank",
    "coverage": f"SELECT * FROM coverage('{MONTH}')",
    "hot_by_province": (
        "SELECT h.rank, h.song_id, v.province, count(*) AS plays "
        f"FROM hot_chart('{MONTH}', 10) h "
        "JOIN plays p ON p.song_id = h.song_id "
        "JOIN venues v ON v.venue_id = p.venue_id "
        "GROUP BY h.rank, h.song_id, v.province ORDER BY h.rank, v.province"
    ),
}


def reference(sql):
    """`chart-job sql --format csv`: header and rows as lists of strings."""
    out = subprocess.run(
        [CONFIG["chart_job"], "sql", "--data", CONFIG["data"], "--format", "csv", "-c", sql],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = list(csv.reader(io.StringIO(out)))
    return rows[0], rows[1:]


def as_text(value):
    """A psycopg value as chart-job's CSV writes it."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime.datetime):
        text = value.astimezone(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")
        return text.rstrip("0").rstrip(".") + "Z"
    if isinstance(value, datetime.date):
        return value.isoformat()
    if isinstance(value, float):
        return Float(value)
    return str(value)


class Float(float):
    """A float cell: equal to the CSV text of the same number, however it is written."""

    def __eq__(self, other):
        if isinstance(other, str):
            try:
                return float(other) == float(self)
            except ValueError:
                return False
        return float.__eq__(self, other)

    __hash__ = float.__hash__


