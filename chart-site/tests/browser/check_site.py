#!/usr/bin/env python3
"""Checks a rendered chart site in a real browser (Debian's Chromium through Playwright).

Serves SITE on 127.0.0.1 and, at desktop and phone width, loads each kind of page:
no console error, no page error, no request outside the site, no failed or 4xx/5xx
response (a request the browser cancelled on navigating away is fetched again), no horizontal scrolling at phone width, headers and labels for screen
readers. Then: the month page's table against the published CSV (read here, from
OUT, not from the site), the switch between the hot and the new chart, the link to
the previous month, one plotted point per charted month on song pages, one bar per
province on the coverage page. Writes a screenshot of every page kind at both widths
to SHOTS. Exits 1 listing every failure.

usage: check_site.py SITE OUT SHOTS
"""

import csv
import functools
import http.server
import json
import pathlib
import sys
import threading
import urllib.request

from playwright.sync_api import sync_playwright

from common import VIEWPORTS, launch, page_problems



def current_dir(out, kind, period):
    """The data directory of a period's current version."""
    period_dir = out / "charts" / f"{kind}={period}"
    manifest = json.loads(sorted((period_dir / "versions").glob("*.json"))[-1].read_text())
    return period_dir / manifest["directory"]


def read_csv(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def expected_cells(row):
    """A chart row as the page should show it."""
    movement = row["movement"]
    if movement in ("UP", "DOWN"):
        places = abs(int(row["prev_rank"]) - int(row["rank"]))
        movement = ("▲ " if movement == "UP" else "▼ ") + str(places)
    elif movement == "SAME":
        movement = "="
    dash = lambda v: v if v != "" else "—"
    return [
        row["rank"], movement, row["title"], row["artist"], row["score"], row["venues"],
        row["rooms"], dash(row["prev_rank"]), dash(row["peak_rank"]), row["months_on_chart"],
    ]


class Server:
    """The site over HTTP on loopback, in a thread."""

    def __init__(self, site):
        handler = functools.partial(Quiet, directory=str(site))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.origin = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


def main():
    site, out, shots = (pathlib.Path(a) for a in sys.argv[1:4])
    shots.mkdir(parents=True, exist_ok=True)
    months = sorted(p.name.split("=")[1] for p in (out / "charts").glob("month=*"))
    newest = months[-1]
    charts = {
        (m, c): read_csv(current_dir(out, "month", m) / f"{c}.csv") for m in months for c in ("hot", "new")
    }
    hot_song = charts[(newest, "hot")][0]["song_id"]
    new_song = charts[(newest, "new")][0]["song_id"]
    pages = {
        "index": "index.html",
        "month": f"month/{newest}/hot.html",
        "year": f"year/{newest[:4]}/hot.html",
        "song": f"song/{hot_song}.html",
        "coverage": "coverage.html",
    }
    failures = []
    fail = failures.append
    server = Server(site)
    origin = server.origin
    # Requests the browser cancelled itself because the page navigated away (the
    # favicon, fetched after load, is the usual one): not a failure of the site, but
    # each is fetched again below, so a missing file still fails.
    cancelled = set()

    def request_failed(page, request):
        if request.failure == "net::ERR_ABORTED" and request.url.startswith(origin):
            cancelled.add(request.url)
        else:
            fail(f"{page.url}: request failed: {request.url} ({request.failure})")

    with sync_playwright() as p:
        browser = launch(p)

        def open_page(viewport):
            width, height = VIEWPORTS[viewport]
            page = browser.new_page(viewport={"width": width, "height": height})
            page.on("console", lambda m: m.type == "error" and fail(f"{page.url}: console error: {m.text}"))
            page.on("pageerror", lambda e: fail(f"{page.url}: page error: {e}"))
            page.on("request", lambda r: r.url.startswith(origin) or fail(f"{page.url}: request outside the site: {r.url}"))
            page.on("requestfailed", lambda r: request_failed(page, r))
            page.on("response", lambda r: r.status >= 400 and fail(f"{page.url}: {r.status} for {r.url}"))
            return page

        for viewport in VIEWPORTS:
            page = open_page(viewport)
            for kind, path in pages.items():
                page.goto(origin + path, wait_until="load")
                page.evaluate("document.fonts.ready")
                problems = page_problems(page)
                for problem in problems:
                    fail(f"{path} at {viewport} width: {problem}")
                page.screenshot(path=str(shots / f"{kind}-{viewport}.png"))
            page.close()

        page = open_page("desktop")

        def table_rows():
            return page.eval_on_selector_all(
                "table.chart tbody tr",
                "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim()))",
            )

        def check_table(chart):
            expected = [expected_cells(r) for r in charts[(newest, chart)]]
            rows = table_rows()
            if len(rows) != len(expected):
                fail(f"{newest} {chart}: {len(rows)} rows, the published CSV has {len(expected)}")
            for shown, want in zip(rows, expected):
                if shown != want:
                    fail(f"{newest} {chart}: row {want[0]} shows {shown}, the CSV says {want}")
                    break
            return len(rows)

        page.goto(origin + pages["month"], wait_until="load")
        hot_rows = check_table("hot")
        page.click("nav.switch a:not([aria-current])")
        page.wait_for_url("**/new.html")
        current = page.inner_text("nav.switch a[aria-current=page]")
        if "新歌榜" not in current:
            fail(f"after the switch the current chart is {current!r}")
        new_rows = check_table("new")
        page.click("a[rel=prev]")
        page.wait_for_url(f"**/month/{months[-2]}/new.html")

        plotted = {}
        for song in sorted({hot_song, new_song}):
            page.goto(origin + f"song/{song}.html", wait_until="load")
            for chart in ("hot", "new"):
                shown = page.locator(f"svg [data-series={chart}] circle.point").count()
                want = sum(1 for m in months if any(r["song_id"] == song for r in charts[(m, chart)]))
                plotted[f"{song} {chart}"] = shown
                if shown != want:
                    fail(f"song {song}: {shown} points on the {chart} chart, charted in {want} months")

        page.goto(origin + "coverage.html", wait_until="load")
        provinces = json.loads((current_dir(out, "month", newest) / "coverage_by_province.json").read_text())["rows"]
        bars = page.locator("svg g.bar rect").count()
        if bars != len(provinces):
            fail(f"coverage: {bars} bars for {len(provinces)} provinces")
        browser.close()

    for url in sorted(cancelled):
        try:
            with urllib.request.urlopen(url) as response:
                response.read()
        except Exception as e:  # a 4xx answer raises too
            fail(f"cancelled request {url} fails when fetched again: {e}")
    server.httpd.shutdown()
    print(json.dumps({"pages": pages, "hot_rows": hot_rows, "new_rows": new_rows, "plotted": plotted,
                      "province_bars": bars, "screenshots": str(shots), "failures": len(failures)}))
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
