#!/usr/bin/env python3
"""Checks the live chart pages of a running ingestion service in a real browser
(Debian's Chromium through Playwright).

The service asks for a reader's token: the page must ask for it, then follow the event
stream. At desktop and phone width: no console error, no page error, no request
outside the service, no 4xx/5xx response other than the stream's 401 before the token
is given (or a 503 while the month is built), no horizontal scrolling at phone width, headers for screen readers. The table
must equal the service's JSON (GET /v1/charts/hot) at the refresh it shows. Then plays
sent for the song at the bottom of the chart must lift it on the open page, without a
reload; the switch to the new chart and a province's page must show their JSON too.
Writes screenshots of the page at both widths to SHOTS. Exits 1 listing every failure.

usage: check_live.py URL READER_TOKEN VENDOR_TOKEN VENUES PROVINCE SHOTS
  VENUES: comma-separated venue ids the lifting plays are sent from
"""

import json
import pathlib
import sys
import time
import urllib.parse
import urllib.request

from playwright.sync_api import sync_playwright

from common import VIEWPORTS, launch, page_problems

TIMEOUT_S = 60
# The stream's answers the page handles: 401 asks for a token, 503 (the month being
# built) is retried.
PAGE_HANDLES = (401, 503)


def expected_cells(row):
    """A live chart row (JSON) as the page should show it."""
    movement = row["movement"]
    if movement in ("UP", "DOWN"):
        places = abs(row["prev_rank"] - row["rank"])
        movement = ("▲ " if movement == "UP" else "▼ ") + str(places)
    elif movement == "SAME":
        movement = "="
    return [str(v) for v in [
        row["rank"], movement, row["title"], row["artist"], row["score"], row["venues"], row["rooms"],
        "—" if row["prev_rank"] is None else row["prev_rank"], row["peak_rank"], row["months_on_chart"],
    ]]


def main():
    url, reader, vendor, venues, province, shots = sys.argv[1:7]
    venues = venues.split(",")
    shots = pathlib.Path(shots)
    shots.mkdir(parents=True, exist_ok=True)
    origin = url.rstrip("/") + "/"
    failures = []
    fail = failures.append

    def api(path):
        request = urllib.request.Request(origin + path, headers={"Authorization": f"Bearer {reader}"})
        with urllib.request.urlopen(request) as response:
            return json.loads(response.read())

    with sync_playwright() as p:
        summary = {}
        browser = launch(p)
        context = browser.new_context()

        def open_page(viewport):
            width, height = VIEWPORTS[viewport]
            page = context.new_page()
            page.set_viewport_size({"width": width, "height": height})
            page.on("console", lambda m: m.type == "error" and not is_handled(m) and fail(f"{page.url}: console error: {m.text}"))
            page.on("pageerror", lambda e: fail(f"{page.url}: page error: {e}"))
            page.on("request", lambda r: r.url.startswith(origin) or fail(f"{page.url}: request outside the service: {r.url}"))
            page.on("response", lambda r: r.status >= 400 and not (r.status in PAGE_HANDLES and "/stream" in r.url)
                    and fail(f"{page.url}: {r.status} for {r.url}"))
            return page

        def is_handled(message):
            # Chromium logs the stream's 401 (before the token is given) and 503 as console errors.
            return any(f"status of {status}" in message.text for status in PAGE_HANDLES)

        def wait_for_refresh(page, what):
            """Waits until the page has drawn a refresh; fails with what its status says."""
            try:
                page.wait_for_selector("table#chart[data-refresh]", state="attached", timeout=TIMEOUT_S * 1000)
            except Exception:
                fail(f"{what}: no refresh drawn; the page says {page.inner_text('#status')!r}")
                finish(summary, failures)

        def shown_rows(page):
            return page.eval_on_selector_all(
                "table#chart tbody tr",
                "rows => rows.map(r => [...r.querySelectorAll('td')].map(c => c.innerText.trim()))",
            )

        def settle(page, path, what, lifted=None):
            """Waits until the page shows the JSON of `path` at the same refresh."""
            deadline = time.monotonic() + TIMEOUT_S
            while True:
                refresh = page.get_attribute("table#chart", "data-refresh")
                want = api(path)
                rows = shown_rows(page)
                expected = [expected_cells(r) for r in want["rows"]]
                same_refresh = refresh == str(want["as_of"]["refresh"])
                if same_refresh and rows == expected and (lifted is None or lifted(want)):
                    return want
                if time.monotonic() > deadline:
                    fail(f"{what}: the page (refresh {refresh}, {len(rows)} rows) never showed {path} "
                         f"(refresh {want['as_of']['refresh']}, {len(expected)} rows); first difference: "
                         + str(next(((a, b) for a, b in zip(rows, expected) if a != b), None)))
                    return want
                time.sleep(0.2)

        # The token: asked for once, kept for the tab's session (reloads included).
        page = open_page("desktop")
        page.goto(origin + "live/hot.html", wait_until="load")
        page.wait_for_selector("#status[data-state=unauthorized]", timeout=TIMEOUT_S * 1000)
        if not page.is_visible("form#reader"):
            fail("the stream answered 401 but the page does not ask for a token")
        page.fill("#reader-token", reader)
        page.click("form#reader button")
        wait_for_refresh(page, "after the token")

        for viewport in VIEWPORTS:
            width, height = VIEWPORTS[viewport]
            page.set_viewport_size({"width": width, "height": height})
            page.reload(wait_until="load")
            wait_for_refresh(page, f"hot at {viewport} width")
            hot = settle(page, "v1/charts/hot", f"hot at {viewport} width")
            summary[f"hot_rows_{viewport}"] = len(shown_rows(page))
            if page.is_visible("form#reader"):
                fail(f"the token was asked for again after a reload at {viewport} width")
            page.evaluate("document.fonts.ready")
            problems = page_problems(page)
            for problem in problems:
                fail(f"live/hot.html at {viewport} width: {problem}")
            page.screenshot(path=str(shots / f"live-{viewport}.png"))

        # Plays for the song at the bottom lift it on the open page, without a reload.
        page.set_viewport_size({"width": VIEWPORTS["desktop"][0], "height": VIEWPORTS["desktop"][1]})
        page.evaluate("window.notReloaded = true")
        last = hot["rows"][-1]
        before = hot["as_of"]["refresh"]
        lines = []
        for v, venue in enumerate(venues):
            for room in range(3):
                for play in range(3):
                    lines.append(json.dumps({
                        "event_id": f"live-page-{v}-{room}-{play}",
                        "venue_id": venue,
                        "room_id": f"R-live-page-{room}",
                        "song_id": last["song_id"],
                        "started_at": f"2024-12-31T2{play}:{10 + room}:00+08:00",
                        "played_ms": 200000,
                    }))
        request = urllib.request.Request(
            origin + "v1/plays", data=("\n".join(lines) + "\n").encode(), method="POST",
            headers={"Authorization": f"Bearer {vendor}", "Idempotency-Key": "live-page-lift",
                     "Content-Type": "application/x-ndjson"})
        with urllib.request.urlopen(request) as response:
            accepted = json.loads(response.read())
        summary["sent"] = len(lines)
        summary["accepted"] = accepted.get("accepted")

        def lifted(chart):
            ranks = [r["rank"] for r in chart["rows"] if r["song_id"] == last["song_id"]]
            return chart["as_of"]["refresh"] > before and ranks and ranks[0] < last["rank"]

        after = settle(page, "v1/charts/hot", "hot after the plays", lifted)
        shown = [r for r in shown_rows(page) if r[2] == last["title"] and r[3] == last["artist"]]
        summary["lifted"] = {"song": last["song_id"], "from": last["rank"], "to": shown[0][0] if shown else None}
        if not lifted(after):
            fail(f"the plays did not lift {last['song_id']} from {last['rank']}")
        if not page.evaluate("window.notReloaded === true"):
            fail("the page reloaded to show the new refresh")

        # The switch, and a province's chart.
        page.click("nav.switch a:not([aria-current])")
        page.wait_for_url("**/live/new.html")
        wait_for_refresh(page, "new")
        new = settle(page, "v1/charts/new", "new")
        summary["new_rows"] = len(new["rows"])
        query = urllib.parse.urlencode({"province": province})
        page.goto(origin + f"live/hot.html?{query}", wait_until="load")
        wait_for_refresh(page, province)
        regional = settle(page, f"v1/charts/hot?{query}", f"hot in {province}")
        summary["province_rows"] = len(regional["rows"])
        if province not in page.inner_text("h1"):
            fail(f"the province page's heading does not name {province}")
        browser.close()

    finish(summary, failures)


def finish(summary, failures):
    """Prints the summary and every failure; exits 1 if any."""
    summary["failures"] = len(failures)
    print(json.dumps(summary, ensure_ascii=False))
    for f in failures:
        print("FAIL", f, file=sys.stderr)
    sys.exit(1 if failures else 0)


if __name__ == "__main__":
    main()
