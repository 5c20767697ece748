"""ADBC's Flight SQL driver (with pyarrow) against `chart-job serve-sql --flight`.

Called by tests/serve_sql.rs with the same JSON argument as check_pg.py; each server's
"flight_port" is its Flight SQL address. Checks, compared with `chart-job sql --format
csv` on the same data root:
  * the chart queries and a join, as Arrow, equal chart-job sql's results;
  * prepared statements with parameters bound (DoPut), several executions;
  * strings arrive as utf8 (not utf8_view), dates as date32, timestamps as timestamps;
  * GetSqlInfo, and catalogs / schemas / tables (adbc_get_objects, table schemas);
  * bad cases: wrong password, unknown user, no TLS where TLS is required, INSERT /
    COPY / CREATE / SET as queries and as prepared statements, an update, a query past
    the memory limit and past the timeout, one session more than the limit: each
    refused with its message while the server goes on serving;
  * 16 clients running the chart functions at once get the reference results.

Prints one JSON line: {"checks": N, "failures": [...]}; exits 1 on any failure.
"""

import json
import sys
import threading
import time

import adbc_driver_flightsql.dbapi as flight_sql
import pyarrow as pa
from adbc_driver_flightsql import DatabaseOptions

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


def connect(server="main", user=None, password=None, tls=None):
    tls = server == "tls" if tls is None else tls
    scheme = "grpc+tls" if tls else "grpc"
    kwargs = {
        "username": user or CONFIG["user"],
        "password": password or CONFIG["password"],
    }
    if tls:
        with open(CONFIG["cert"]) as f:
            kwargs[DatabaseOptions.TLS_ROOT_CERTS.value] = f.read()
    return flight_sql.connect(f"{scheme}://127.0.0.1:{CONFIG[server]['flight_port']}", db_kwargs=kwargs, autocommit=True)


def fetch(conn, sql, parameters=None):
    with conn.cursor() as cur:
        cur.execute(sql, parameters)
        table = cur.fetch_arrow_table()
    rows = [[as_text(v) for v in row.values()] for row in table.to_pylist()]
    return table.column_names, rows


def error_of(action):
    try:
        action()
    except Exception as e:  # noqa: BLE001 - the driver's errors are several classes
        return str(e)
    return None


REFERENCES = {name: reference(sql) for name, sql in QUERIES.items()}


def query_checks():
    with connect() as conn:
        for name, sql in QUERIES.items():
            check(fetch(conn, sql) == REFERENCES[name], f"flight {name} equals chart-job sql")
        sql = f"SELECT rank, song_id, plays FROM hot_chart('{MONTH}', 100) WHERE rank <= $1 AND movement <> $2 ORDER BY rank"
        for limit, movement in [(5, "NEW"), (12, "UP"), (1, "x")]:
            expected = reference(
                f"SELECT rank, song_id, plays FROM hot_chart('{MONTH}', 100) "
                f"WHERE rank <= {limit} AND movement <> '{movement}' ORDER BY rank"
            )
            check(fetch(conn, sql, (limit, movement)) == expected, f"flight prepared with ({limit}, {movement})")
        with conn.cursor() as cur:
            cur.execute("SELECT started_at, date, song_id, played_ms FROM plays LIMIT 1")
            schema = cur.fetch_arrow_table().schema
        check(pa.types.is_timestamp(schema.field("started_at").type), f"started_at: {schema}")
        check(schema.field("date").type == pa.date32(), f"date: {schema}")
        check(schema.field("song_id").type == pa.string(), f"song_id is utf8: {schema}")
        info = conn.adbc_get_info()
        check(info.get("vendor_name") == "chart-job serve-sql", f"GetSqlInfo: {info}")
        objects = conn.adbc_get_objects(depth="tables").read_all().to_pylist()
        tables = {
            table["table_name"]
            for catalog in objects
            for schema in catalog["catalog_db_schemas"] or []
            for table in schema["db_schema_tables"] or []
        }
        check({"plays", "songs", "venues", "valid_plays"} <= tables, f"get_objects tables: {sorted(tables)[:30]}")
        songs = conn.adbc_get_table_schema("songs")
        check(songs.field("song_id").type == pa.string() and songs.field("release_date").type == pa.date32(), f"songs schema: {songs}")
        check(set(conn.adbc_get_table_types()) >= {"TABLE", "VIEW"}, "table types")


def refusals(server):
    with connect(server) as conn:
        for sql, message in [
            ("INSERT INTO songs (song_id) VALUES ('x')", "INSERT refused"),
            ("COPY songs TO '/tmp/chart-flight-copy.csv'", "COPY refused"),
            ("CREATE TABLE t AS SELECT 1 AS a", "CREATE TABLE refused"),
            ("SET datafusion.execution.batch_size = 1", "SET refused"),
            ("SELECT 1 AS a INTO t2", "CreateMemoryTable refused"),
        ]:
            error = error_of(lambda: fetch(conn, sql))
            check(error is not None and message in error, f"{server} flight: {sql} refused: {error}")
            error = error_of(lambda: fetch(conn, sql.replace("'x'", "$1"), ("x",)) if "'x'" in sql else fetch(conn, sql, ()))
            check(error is not None and "refused" in error, f"{server} flight: prepared {sql} refused: {error}")

        def update():
            with conn.cursor() as cur:
                cur.executescript("DELETE FROM songs")

        error = error_of(update)
        check(error is not None and "refused" in error, f"{server} flight: an update (DoPut) refused: {error}")
        check(fetch(conn, "SELECT 7 AS a") == (["a"], [["7"]]), f"{server} flight: serving after refusals")


def login_checks():
    for user, password, what in [(CONFIG["user"], "wrong", "wrong password"), ("nobody", CONFIG["password"], "unknown user")]:
        started = time.monotonic()

        def attempt():
            with connect(user=user, password=password) as conn:
                fetch(conn, "SELECT 1 AS a")

        error = error_of(attempt)
        waited = time.monotonic() - started
        check(error is not None and "password authentication failed" in error, f"flight {what} refused: {error}")
        check(waited >= 0.9, f"flight {what} answered after the delay ({waited:.2f} s)")

    def plaintext():
        with connect("tls", tls=False) as conn:
            fetch(conn, "SELECT 1 AS a")

    check(error_of(plaintext) is not None, "flight without TLS to the TLS server fails")
    with connect("tls") as conn:
        check(fetch(conn, QUERIES["hot"]) == REFERENCES["hot"], "flight over TLS")
    refusals("tls")


def limits_checks():
    with connect("limits") as conn:
        error = error_of(lambda: fetch(conn, "SELECT * FROM plays ORDER BY event_id, started_at"))
        check(error is not None and "Resources exhausted" in error, f"flight past the memory limit: {error}")
        error = error_of(lambda: fetch(conn, "SELECT count(*) FROM range(10000000000)"))
        check(error is not None and "query cancelled after 1s" in error, f"flight past the timeout: {error}")
        check(fetch(conn, "SELECT 1 AS a") == (["a"], [["1"]]), "flight serving after both")
        with connect("limits") as second:
            check(fetch(second, "SELECT 2 AS a") == (["a"], [["2"]]), "flight second session")

            def third():
                with connect("limits") as conn3:
                    fetch(conn3, "SELECT 3 AS a")

            error = error_of(third)
            check(error is not None and "too many clients" in error, f"flight third session refused: {error}")
            check(fetch(second, "SELECT 4 AS a") == (["a"], [["4"]]), "flight others go on")


def concurrency_checks():
    names = list(QUERIES)
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
    wrong = [key for key, value in results.items() if value[0] is None or value[1] != REFERENCES[value[0]]]
    check(len(results) == 32 and not wrong, f"flight 16 concurrent clients: {len(results)} results, wrong: {[results[k] for k in wrong[:1]]}")


started = time.monotonic()
for section in [query_checks, lambda: refusals("main"), login_checks, limits_checks, concurrency_checks]:
    try:
        section()
    except Exception as e:  # noqa: BLE001 - a crash of one section is a failure, the rest still runs
        FAILURES.append(f"{getattr(section, '__name__', 'section')} crashed: {e!r}")
print(json.dumps({"checks": CHECKS, "failures": FAILURES, "seconds": round(time.monotonic() - started, 1)}, ensure_ascii=False))
sys.exit(1 if FAILURES else 0)
