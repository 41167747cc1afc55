"""Each role's pages at two laptop sizes: nothing overflows sideways and axe-core finds no
serious or critical accessibility violation. A screenshot of each page per role and size
goes to test-artifacts/browser/roles/ (FXCRM_SCREENSHOTS_DIR overrides it: `make screenshots`).

axe-core is vendored under tests/browser/vendor (`.ci/vendor-axe`), injected from disk: the
tests never fetch anything at run time.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from engine.users.models import ROLES
from tests.browser.conftest import ARTIFACTS, login

pytestmark = pytest.mark.browser

AXE_VERSION = "4.14.1"
AXE = Path(__file__).parent / "vendor" / f"axe-{AXE_VERSION}.min.js"
SIZES = ((1440, 900), (1280, 800))
# Pages a role reaches beyond its top navigation (which the test follows).
EXTRA = {
    "admin": ["/clients/C100", "/tasks/1", "/account/time-zone"],
    "compliance": ["/clients/C100", "/tasks/1"],
    "finance": ["/clients/C100"],
    "support": ["/clients/C100", "/tasks/3"],
    "sales": ["/clients/C100"],
    "partner": ["/account/time-zone"],
}

OVERFLOW = """() => {
  const out = [];
  const root = document.documentElement;
  if (root.scrollWidth > window.innerWidth) out.push(`page is ${root.scrollWidth}px wide in ${window.innerWidth}px`);
  const scrolls = el => ['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(el).overflowX);
  for (const table of document.querySelectorAll('table')) {
    if (!table.offsetParent) continue;  // hidden (a closed tab or details)
    let shown = table;
    for (let el = table.parentElement; el && el !== document.body; el = el.parentElement) {
      if (scrolls(el)) { shown = el; break; }
    }
    const card = (shown === table ? table.parentElement : shown.parentElement).closest('.card, .panel, main');
    if (!card) continue;
    const a = shown.getBoundingClientRect(), b = card.getBoundingClientRect();
    if (a.right > b.right + 1 || a.left < b.left - 1) {
      out.push(`table ${table.id || table.className || '(no id)'} is wider than its ${card.className || card.tagName}`);
    }
  }
  return out;
}"""


def _shots_dir() -> Path:
    return Path(os.environ.get("FXCRM_SCREENSHOTS_DIR") or ARTIFACTS / "roles")


def _pages_of(page, role: str) -> list[str]:
    """The role's top-navigation pages, then the extra pages it works on."""
    links = page.locator("header.top nav a").evaluate_all("els => els.map(a => a.pathname)")
    seen: list[str] = []
    for path in ["/", *links, *EXTRA.get(role, [])]:
        if path not in seen:
            seen.append(path)
    return seen


def _name(path: str) -> str:
    return path.strip("/").replace("/", "-") or "home"


def _serious(page) -> list[str]:
    page.add_script_tag(path=str(AXE))
    result = page.evaluate("""async () => (await axe.run(document, {resultTypes: ['violations']}))
        .violations.filter(v => ['serious', 'critical'].includes(v.impact))
        .map(v => `${v.id} (${v.impact}): ${v.nodes.slice(0, 3).map(n => n.target.join(' ')).join(', ')}`)""")
    return list(result)


@pytest.mark.parametrize("role", ROLES)
def test_each_roles_pages_fit_and_pass_axe(browser, server, role):
    problems: list[str] = []
    for width, height in SIZES:
        # bypass_csp lets the test inject axe from disk; the app's own CSP stays on.
        context = browser.new_context(viewport={"width": width, "height": height}, base_url=server[0], bypass_csp=True)
        context.set_default_timeout(10_000)
        page = context.new_page()
        login(page, role)
        folder = _shots_dir() / role
        folder.mkdir(parents=True, exist_ok=True)
        for path in _pages_of(page, role):
            response = page.goto(path)
            page.wait_for_load_state("networkidle")
            assert response.status == 200, (role, path, response.status)
            where = f"{role} {path} at {width}x{height}"
            problems += [f"{where}: {p}" for p in page.evaluate(OVERFLOW)]
            problems += [f"{where}: axe {v}" for v in _serious(page)]
            primaries = page.locator(".btn-primary:visible").count()
            if primaries > 1:  # one primary action per page
                problems.append(f"{where}: {primaries} primary buttons")
            page.screenshot(path=str(folder / f"{_name(path)}-{width}x{height}.png"), full_page=True)
        context.close()
    assert not problems, "\n".join(problems)
