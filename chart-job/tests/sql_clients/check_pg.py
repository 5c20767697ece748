"""Real PostgreSQL clients against `chart-job serve-sql`.

Called by tests/serve_sql.rs with one JSON argument: the chart-job binary, the data
root, the user and password, and three running servers:
  main   --max-connections 32, generous limits;
  limits --max-connections 2 --query-memory 1M --timeout 1s;
  tls    --tls-cert (TLS required).

Checks, each compared with `chart-job sql --format csv` on the same data root:
  * psql (simple protocol) runs a script: \\d, \\d songs, a chart table function, a
    join of hot_chart with venues, an error, and a query after the error;
  * psycopg (extended protocol) runs the same queries, and prepared statements with
    parameters; dates and timestamps arrive as dates and timestamps, strings as text;
  * bad cases: wrong password, unknown user (both refused after the login delay), no
    TLS where TLS is required, INSERT / COPY / CREATE / SET through simple, extended
    and prepared statements, a query past the memory limit and past the timeout, one
    connection more than the limit: each refused with its message while the server
    goes on serving;
  * 16 clients running the chart functions at once get the reference results.

Prints one JSON line: {"checks": N, "failures": [...], ...}; exits 1 on any failure.
"""

import csv
import datetime
import io
import json
import subprocess
import sys
import threading
import time

import psycopg
import psycopg.conninfo

sys.path.insert(0, __file__.rsplit("/", 1)[0])

from common import CONFIG, MONTH, QUERIES, as_text, reference  # noqa: E402

FAILURES = []
CHECKS = 0


def check(condition, what):
    global CHECKS
    CHECKS += 1
    if not condition:
        FAILURES.append(what)
    return condition


def conninfo(server, **overrides):
    params = {
        "host": "127.0.0.1",
        "port": CONFIG[server]["port"],
        "user": CONFIG["user"],
        "password": CONFIG["password"],
        "dbname": "charts",
        "sslmode": "disable",
        "connect_timeout": 30,
    }
    if server == "tls":
        params["sslmode"] = "require"
    params.update(overrides)
    return psycopg.conninfo.make_conninfo(**params)


def connect(server="main", **overrides):
    return psycopg.connect(conninfo(server, **overrides), autocommit=True)


def fetch(conn, sql, params=None, prepare=None):
    with conn.cursor() as cur:
        cur.execute(sql, params, prepare=prepare)
        header = [d.name for d in cur.description]
        return header, [[as_text(v) for v in row] for row in cur.fetchall()]


def error_of(action):
    """The SQLSTATE and message of the error `action` raises, or None."""
    try:
        action()
    except psycopg.Error as e:
        return (e.sqlstate, str(e).strip())
    return None


REFERENCES = {name: reference(sql) for name, sql in QUERIES.items()}
for name, (header, rows) in REFERENCES.items():
    check(len(rows) > 0, f"reference {name} has rows")


# --- psql: the simple protocol -------------------------------------------------------
def psql_checks():
    script = "\n".join(
        [
            "\\d",
            "\\d songs",
            QUERIES["hot"] + ";",
            QUERIES["hot_by_province"] + ";",
            "SELECT * FROM no_such_table;",
            "INSERT INTO songs (song_id) VALUES ('x');",
            "SELECT 42 AS still_serving;",
        ]
    )
    done = subprocess.run(
        ["psql", conninfo("main"), "-X", "--csv", "-v", "ON_ERROR_STOP=0"],
        input=script,
        capture_output=True,
        text=True,
        env={"PGCONNECT_TIMEOUT": "30", "PATH": "/usr/bin:/bin"},
    )
    out, err = done.stdout, done.stderr
    for table in ["plays", "songs", "venues", "valid_plays", "song_month_stats"]:
        check(f"public,{table}," in out, f"psql \\d lists {table}: {out[:500]}")
    check("song_id,text" in out, f"psql \\d songs: song_id is text: {out[:2000]}")
    check("release_date,date" in out, "psql \\d songs: release_date is a date")
    for name in ["hot", "hot_by_province"]:
        header, rows = REFERENCES[name]
        block = "\n".join([",".join(header)] + [",".join(r) for r in rows])
        parsed = list(csv.reader(io.StringIO(block)))
        expected = "\n".join(
            ",".join(f'"{c}"' if ("," in c or '"' in c) else c for c in row) for row in parsed
        )
        check(expected in out, f"psql {name} equals chart-job sql's CSV")
    check('relation "no_such_table"' in err or "no_such_table" in err, f"psql error: {err}")
    check("INSERT refused: the session is read-only" in err, f"psql INSERT refused: {err}")
    check("still_serving\n42" in out, "psql goes on after errors")


# --- psycopg: the extended protocol --------------------------------------------------
def psycopg_checks():
    with connect() as conn:
        for name, sql in QUERIES.items():
            for prepare in [False, True]:
                got = fetch(conn, sql, prepare=prepare)
                check(got == REFERENCES[name], f"psycopg {name} (prepare={prepare}) equals chart-job sql")
        # Prepared statements with parameters, several executions.
        sql = f"SELECT rank, song_id, plays FROM hot_chart('{MONTH}', 100) WHERE rank <= %s AND movement <> %s ORDER BY rank"
        for limit, movement in [(5, "NEW"), (12, "UP"), (1, "x")]:
            expected = reference(
                f"SELECT rank, song_id, plays FROM hot_chart('{MONTH}', 100) "
                f"WHERE rank <= {limit} AND movement <> '{movement}' ORDER BY rank"
            )
            got = fetch(conn, sql, (limit, movement), prepare=True)
            check(got == expected, f"prepared with ({limit}, {movement}) equals the literal query")
        # Types: dates, timestamps and text as PostgreSQL types.
        with conn.cursor() as cur:
            cur.execute("SELECT started_at, date, song_id, played_ms FROM plays LIMIT 1")
            row = cur.fetchone()
            check(isinstance(row[0], datetime.datetime) and row[0].tzinfo is not None, f"started_at is a timestamptz: {row[0]!r}")
            check(type(row[1]) is datetime.date, f"date is a date: {row[1]!r}")
            check(isinstance(row[2], str), f"song_id is text: {row[2]!r}")
            check(isinstance(row[3], int), f"played_ms is an integer: {row[3]!r}")
            types = [d.type_code for d in cur.description]
            check(types[2] in (25, 1043), f"song_id's type is text or varchar: {types}")
        # information_schema and pg_catalog as tools query them.
        header, rows = fetch(conn, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name")
        check(["plays"] in rows and ["songs"] in rows, f"information_schema.tables: {rows}")
        header, rows = fetch(conn, "SELECT relname FROM pg_catalog.pg_class WHERE relname = 'venues'")
        check(rows == [["venues"]], f"pg_class knows venues: {rows}")


def refusals(server):
    """Writes through the extended protocol, prepared statements and COPY."""
    with connect(server) as conn:
        statements = [
            ("INSERT INTO songs (song_id) VALUES ('x')", "INSERT refused"),
            ("COPY songs TO '/tmp/chart-copy.csv'", "COPY refused"),
            ("CREATE TABLE t AS SELECT 1 AS a", "CREATE TABLE refused"),
            ("CREATE VIEW v AS SELECT 1 AS a", "CREATE VIEW refused"),
            ("SET datafusion.execution.batch_size = 1", "SET datafusion.execution.batch_size refused"),
            ("SELECT 1 AS a INTO t2", "refused: the session is read-only"),
            ("DROP TABLE plays", "DROP TABLE refused"),
        ]
        for sql, message in statements:
            for prepare in [False, True]:
                error = error_of(lambda: conn.execute(sql, prepare=prepare))
                check(
                    error is not None and error[0] == "25006" and message in error[1],
                    f"{server}: {sql} (prepare={prepare}) refused with 25006: {error}",
                )
        error = error_of(lambda: conn.execute("INSERT INTO songs (song_id) VALUES (%s)", ("x",), prepare=True))
        check(error is not None and "INSERT refused" in error[1], f"{server}: INSERT with parameters refused: {error}")

        def copy_out():
            with conn.cursor() as cur:
                with cur.copy("COPY songs TO STDOUT") as copy:
                    for _ in copy:
                        pass

        error = error_of(copy_out)
        check(error is not None and "COPY refused" in error[1], f"{server}: COPY TO STDOUT refused: {error}")
        check(fetch(conn, "SELECT 7 AS a") == (["a"], [["7"]]), f"{server}: the connection serves after refusals")
        check(fetch(conn, "SELECT count(*) AS n FROM songs")[1][0][0] != "0", "songs are intact")


def login_checks():
    for user, password, what in [(CONFIG["user"], "wrong", "wrong password"), ("nobody", CONFIG["password"], "unknown user")]:
        started = time.monotonic()
        error = error_of(lambda: connect(user=user, password=password).close())
        waited = time.monotonic() - started
        check(
            error is not None and f'password authentication failed for user "{user}"' in error[1],
            f"{what} refused: {error}",
        )
        check(waited >= 0.9, f"{what} answered after the delay ({waited:.2f} s)")
    error = error_of(lambda: connect("tls", sslmode="disable").close())
    check(error is not None and "accepts TLS connections only" in error[1], f"no TLS refused: {error}")
    with connect("tls") as conn:
        check(conn.pgconn.ssl_in_use, "the TLS server's connection is encrypted")
        check(fetch(conn, QUERIES["hot"]) == REFERENCES["hot"], "queries over TLS")
    refusals("tls")


def limits_checks():
    with connect("limits") as conn:
        error = error_of(lambda: conn.execute("SELECT * FROM plays ORDER BY event_id, started_at").fetchall())
        check(error is not None and "Resources exhausted" in error[1], f"past the memory limit: {error}")
        started = time.monotonic()
        error = error_of(lambda: conn.execute("SELECT count(*) FROM range(10000000000)").fetchall())
        waited = time.monotonic() - started
        check(error is not None and "query cancelled after 1s" in error[1], f"past the timeout: {error}")
        check(waited < 30, f"the timeout stopped the query ({waited:.1f} s)")
        check(fetch(conn, "SELECT 1 AS a") == (["a"], [["1"]]), "serving after both")
        # The limit is 2: this and one more; a third is refused.
        second = connect("limits")
        error = error_of(lambda: connect("limits").close())
        # (libpq reports a refused connection without its SQLSTATE, 53300: the message.)
        check(error is not None and "sorry, too many clients already" in error[1], f"a third connection refused: {error}")
        check(fetch(second, "SELECT 2 AS a") == (["a"], [["2"]]), "the others go on")
        second.close()
        time.sleep(0.3)
        with connect("limits") as again:
            check(fetch(again, "SELECT 3 AS a") == (["a"], [["3"]]), "a slot freed is taken again")


def concurrency_checks():
    names = ["hot", "new", "coverage", "hot_by_province"]
    results = {}

    def client(i):
        try:
            with connect() as conn:
                for k in range(2):
                    name = names[(i + k) % len(names)]
                    results[(i, k)] = (name, fetch(conn, QUERIES[name]))
        except Exception as e:  # noqa: BLE001 - reported as a failure
            results[(i, "error")] = (None, repr(e))

    threads = [threading.Thread(target=client, args=(i,)) for i in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wrong = [(key, value[0]) for key, value in results.items() if value[0] is None or value[1] != REFERENCES[value[0]]]
    check(len(results) == 32 and not wrong, f"16 concurrent clients: {len(results)} results, wrong: {wrong[:3]} {[results[k] for k, _ in wrong[:1]]}")


def peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) // 1024
    return None


started = time.monotonic()
for section in [psql_checks, psycopg_checks, lambda: refusals("main"), login_checks, limits_checks, concurrency_checks]:
    try:
        section()
    except Exception as e:  # noqa: BLE001 - a crash of one section is a failure, the rest still runs
        FAILURES.append(f"{getattr(section, '__name__', 'section')} crashed: {e!r}")
print(
    json.dumps(
        {
            "checks": CHECKS,
            "failures": FAILURES,
            "seconds": round(time.monotonic() - started, 1),
            "main_peak_rss_mib": peak_rss_mib(CONFIG["main"]["pid"]),
        },
        ensure_ascii=False,
    )
)
sys.exit(1 if FAILURES else 0)
