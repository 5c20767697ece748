"""What the browser checks share: the Chromium they drive and how, the page sizes, and
the page-level checks for screen readers and phone widths."""

import os

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
VIEWPORTS = {"desktop": (1280, 900), "phone": (390, 844)}


def launch(playwright):
    """Debian's Chromium, headless, as the tests run it (never a downloaded browser)."""
    return playwright.chromium.launch(
        executable_path=CHROMIUM,
        args=["--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-background-networking",
              "--disable-component-update", "--disable-sync"],
    )


def page_problems(page):
    """A loaded page's problems: no language, not one h1, a table without column headers,
    a plot or image without a text alternative, sideways scrolling."""
    return page.evaluate("""() => {
        const p = [];
        if (!document.documentElement.lang) p.push('no lang');
        if (document.querySelectorAll('h1').length !== 1) p.push('not one h1');
        for (const t of document.querySelectorAll('table'))
            if (!t.querySelector('thead th[scope=col]')) p.push('a table without column headers');
        for (const s of document.querySelectorAll('svg'))
            if (s.getAttribute('role') !== 'img' || !s.getAttribute('aria-label')) p.push('an svg without role and label');
        for (const i of document.querySelectorAll('img'))
            if (!i.hasAttribute('alt')) p.push('an img without alt');
        if (document.documentElement.scrollWidth > window.innerWidth + 1)
            p.push('scrolls sideways: ' + document.documentElement.scrollWidth + ' > ' + window.innerWidth);
        return p;
    }""")
