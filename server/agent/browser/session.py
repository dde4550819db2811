"""One browser session on one application form: open, confirm the form, fill it page by page
with evidence, and (when asked) submit it once and wait for the confirmation.

The outcome is one of:
- `filled`: every required field answered; screenshots and values kept; nothing submitted.
- `needs_review`: required fields nobody could answer (listed); nothing submitted.
- `needs_human`: the page needs a person (CAPTCHA, login or account, an upload it refused, an
  unknown form, a page that did not load or leads somewhere private); nothing submitted, or,
  after the click, no confirmation was seen.
- `submitted`: the confirmation page or message was seen (its screenshot kept).
- `already_clicked`: an earlier run clicked Submit and its outcome is unknown.
"""

from __future__ import annotations

import contextvars
import logging
import os
import re
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from server.agent.browser import ats as ats_module
from server.agent.browser.answers import DECLINE, FREE_TEXT, Sources, resolve
from server.agent.browser.guard import NetworkGuard
from server.agent.browser.runtime import DRIVER_NICENESS, Browser, BrowserStopped, open_browser
from server.agent.screening import _countries_in

log = logging.getLogger("server.agent.browser.session")

DISCOVER_JS = Path(__file__).with_name("discover.js").read_text()
CAPTCHA_CSS = (
    ".g-recaptcha, .h-captcha, .cf-turnstile, iframe[src*='recaptcha/api2/anchor'], "
    "iframe[src*='recaptcha/api2/bframe'], iframe[src*='hcaptcha.com'], "
    "iframe[src*='challenges.cloudflare.com'], iframe[src*='captcha-delivery.com']"
)
UPLOAD_ERROR_CSS = (
    ".resume-upload-oversize, .file-upload__error, [data-ui=resume-error], "
    ".ashby-application-form-file-error"
)
ERROR_TEXT = re.compile(
    r"flagged as possible spam|error verifying your application|already received|"
    r"your form needs corrections",
    re.IGNORECASE,
)
MAX_SCREENSHOT_BYTES = 8 * 2**20


class HandOff(Exception):  # noqa: N818 - reads as an outcome
    """The page needs a person; the message says why."""


@dataclass
class Outcome:
    status: str
    reason: str | None = None
    ats: str | None = None
    url: str | None = None
    fields: list[dict[str, Any]] = field(default_factory=list)
    screenshots: list[bytes] = field(default_factory=list)
    confirmation: bytes | None = None
    pages: int = 0
    blocked: list[dict[str, Any]] = field(default_factory=list)
    peak_memory_bytes: int = 0
    seconds: float = 0.0

    @property
    def unanswered(self) -> list[dict[str, Any]]:
        return [f for f in self.fields if f["required"] and f["value"] is None]


@dataclass
class Request:
    """What one session is asked to do."""

    url: str
    sources: Sources
    submit: bool = False
    # Writes answers to required free-text fields (verified): {key: text}.
    write_answers: Callable[[list[dict[str, Any]]], dict[str, str]] | None = None
    # Says why the form may not be submitted as filled (auto mode's rule), or None.
    hold_back: Callable[[list[dict[str, Any]]], str | None] = lambda fields: None
    # Runs the click at most once: True when it clicked now, False when an earlier run did.
    click_once: Callable[[Callable[[], None]], bool] = lambda click: (click(), True)[1]
    should_stop: Callable[[], str | None] = lambda: None
    # Fields whose values must be what the user reviewed ({key: value}); None: no such rule.
    reviewed: dict[str, Any] | None = None


def run(settings: Any, policy: Any, request: Request) -> Outcome:
    """Fill (and maybe submit) the form at `request.url`; never raises for a page's doing.

    The session runs in a thread of its own at the browser's low priority (Linux keeps a
    niceness per thread, and an unprivileged thread cannot take it back), so Playwright's
    client work in this process yields the CPU to requests as the browser does. The request's
    callbacks run in that thread with the caller's context (app context, database session);
    the caller waits for it.
    """
    done: dict[str, Any] = {}
    context = contextvars.copy_context()

    def session_thread() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DRIVER_NICENESS)
        except OSError:  # pragma: no cover - a platform without per-thread niceness
            pass
        try:
            done["outcome"] = context.run(_run, settings, policy, request)
        except BaseException as error:  # noqa: BLE001 - raised again in the caller
            done["error"] = error

    thread = threading.Thread(target=session_thread, name="browser-session", daemon=True)
    thread.start()
    thread.join()
    if "error" in done:
        raise done["error"]
    return done["outcome"]


def _run(settings: Any, policy: Any, request: Request) -> Outcome:
    started = time.monotonic()
    outcome = Outcome(status="needs_human", url=request.url)
    try:
        with open_browser(settings, should_stop=request.should_stop) as browser:
            guard = NetworkGuard(
                policy=policy,
                user_agent="",
                timeout_seconds=settings.browser_step_timeout_seconds,
            )
            guard.attach(browser.context)
            try:
                _fill_and_submit(settings, browser, guard, request, outcome)
            except HandOff as hand_off:
                outcome.status, outcome.reason = "needs_human", str(hand_off)
            except Exception as error:  # noqa: BLE001 - a page's failure is a hand-off
                if browser.watch.stopped:
                    raise BrowserStopped(browser.watch.stopped) from None
                blocked = guard.navigation_blocked()
                outcome.status = "needs_human"
                outcome.reason = (
                    f"the page leads to an address that may not be reached ({blocked.reason})"
                    if blocked
                    else f"the page did not work as expected: {_first_line(error)}"
                )
                log.info("browser session ended early", extra={"error": _first_line(error)})
            finally:
                outcome.blocked = [
                    {"url": b.url, "reason": b.reason, "navigation": b.navigation}
                    for b in guard.blocked
                ]
                outcome.peak_memory_bytes = browser.watch.peak_bytes
                guard.close()
            if browser.watch.stopped:
                raise BrowserStopped(browser.watch.stopped)
    finally:
        outcome.seconds = round(time.monotonic() - started, 2)
    return outcome


def _first_line(error: Exception) -> str:
    lines = str(error).strip().splitlines()
    return (lines[0] if lines else type(error).__name__)[:300]


def _open(page: Any, guard: NetworkGuard, url: str, timeout_ms: float) -> None:
    try:
        page.goto(url, wait_until="load")
    except Exception as error:  # noqa: BLE001
        blocked = guard.navigation_blocked()
        if blocked:
            raise HandOff(
                f"the page leads to an address that may not be reached: {blocked.url} "
                f"({blocked.reason})"
            ) from None
        if "Timeout" in type(error).__name__ or "timeout" in str(error).lower():
            raise HandOff(f"the page did not load within {timeout_ms / 1000:.0f} s") from None
        raise HandOff(f"the page could not be opened: {_first_line(error)}") from None
    _follow_redirects(page, guard)


def _follow_redirects(page: Any, guard: NetworkGuard) -> None:
    """Wait for the hops the guard sent the page on, and stop at one it refused."""
    for _hop in range(10):
        target = guard.take_redirect()
        blocked = guard.navigation_blocked()
        if blocked:
            raise HandOff(
                f"the page leads to an address that may not be reached: {blocked.url} "
                f"({blocked.reason})"
            )
        if target is None:
            return
        try:
            page.wait_for_url(target, wait_until="load")
        except Exception:  # noqa: BLE001 - the hop failed: judged below
            blocked = guard.navigation_blocked()
            if blocked:
                continue
            raise
    raise HandOff("the page redirects too many times")


def _detect(page: Any, url: str, timeout_ms: float) -> ats_module.Ats:
    hinted = ats_module.from_url(url)
    union = ", ".join(ats_module.ATSES[name].confirms for name in ats_module.CONFIRM_ORDER)
    try:
        page.wait_for_selector(union, state="attached", timeout=min(timeout_ms, 10_000))
    except Exception:  # noqa: BLE001, S110 - no known form: judged below
        pass
    found = None
    for name in ats_module.CONFIRM_ORDER:
        if page.locator(ats_module.ATSES[name].confirms).count():
            found = ats_module.ATSES[name]
            break
    if page.locator("input[type=password]:visible").count():
        raise HandOff("the page asks to sign in or create an account; apply by hand")
    if found is None:
        if "job not found" in page.inner_text("body").lower() or "error=true" in page.url:
            raise HandOff("the posting is closed (the page says the job was not found)")
        label = ats_module.ATSES[hinted].label if hinted else "this site"
        raise HandOff(f"no application form the agent knows was found on the page ({label})")
    if not found.supported:
        raise HandOff(
            f"{found.label} asks for an account before the application; apply by hand with "
            "the prepared answers and files"
        )
    if (
        hinted
        and hinted != found.name
        and not (hinted in ats_module.ANY_GREENHOUSE and found.name in ats_module.ANY_GREENHOUSE)
    ):
        log.info("ATS differs from its URL", extra={"url_says": hinted, "page_says": found.name})
    return found


def _check_captcha(page: Any) -> None:
    for handle in page.locator(CAPTCHA_CSS).all():
        if not handle.is_visible():
            continue
        box = handle.bounding_box()
        if box and box["width"] >= 30 and box["height"] >= 30:
            raise HandOff("the form shows a CAPTCHA that a person must solve")


def _fill_and_submit(
    settings: Any, browser: Browser, guard: NetworkGuard, request: Request, outcome: Outcome
) -> None:
    timeout_ms = settings.browser_step_timeout_seconds * 1000
    page = browser.context.new_page()
    hinted = ats_module.from_url(request.url)
    url = ats_module.form_url(request.url, hinted) if hinted else request.url
    outcome.url = url
    _open(page, guard, url, timeout_ms)
    found = _detect(page, url, timeout_ms)
    outcome.ats = found.name
    _check_captcha(page)
    for page_number in range(settings.browser_max_pages):
        outcome.pages = page_number + 1
        fields = page.evaluate(DISCOVER_JS)
        for item in fields:
            item["page"] = page_number + 1
        resolved = resolve(fields, request.sources)
        if request.reviewed is not None:
            resolved = _as_reviewed(resolved, request.reviewed)
        _write_free_text(resolved, request)
        outcome.fields += resolved
        for item in resolved:
            if item["value"] is not None:
                _fill(page, item, timeout_ms)
        _check_upload(page)
        outcome.screenshots.append(_screenshot(page))
        if outcome.unanswered:
            outcome.status = "needs_review"
            outcome.reason = "required questions have no answer: " + "; ".join(
                f["label"] or f["key"] for f in outcome.unanswered
            )
            return
        if not _next_page(page, found):
            break
    else:
        raise HandOff(f"the form has more than {settings.browser_max_pages} pages")
    _check_captcha(page)
    if not request.submit:
        outcome.status = "filled"
        return
    held = request.hold_back(outcome.fields)
    if held:
        outcome.status, outcome.reason = "filled", held
        return
    submit = page.locator(found.submit).first

    def click() -> None:
        submit.click(no_wait_after=True)

    if not request.click_once(click):
        outcome.status = "already_clicked"
        outcome.reason = "an earlier run clicked Submit and did not see the outcome"
        return
    _await_confirmation(page, guard, found, timeout_ms, outcome)


def _as_reviewed(resolved: list[dict[str, Any]], reviewed: dict[str, Any]) -> list[dict]:
    """Refilling a reviewed form: every field takes the value the user saw; a required field
    the review did not show stops the submission."""
    for item in resolved:
        if item["key"] in reviewed:
            item["value"] = reviewed[item["key"]] if item["kind"] != "file" else item["value"]
            item["source"] = item["source"] or "reviewed"
        elif item["required"]:
            item["value"], item["source"] = None, None
    return resolved


def _write_free_text(resolved: list[dict[str, Any]], request: Request) -> None:
    if request.write_answers is None or request.reviewed is not None:
        return
    open_text = [
        f for f in resolved if f["value"] is None and f["required"] and f["kind"] in FREE_TEXT
    ]
    if not open_text:
        return
    written = request.write_answers(open_text)
    for item in open_text:
        if written.get(item["key"]):
            item["value"], item["source"] = written[item["key"]], "engine"


def _locator(page: Any, key: str) -> Any:
    return page.locator(f'[data-agent-key="{_css_string(key)}"]').first


def _css_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"')


def _fill(page: Any, item: dict[str, Any], timeout_ms: float) -> None:
    """Put one answer into its control the way a person would, and read back what shows."""
    kind, value, key = item["kind"], item["value"], item["key"]
    target = _locator(page, key)
    if kind == "file":
        target.set_input_files(value)
        item["shown"] = value["name"]
        return
    if kind in ("text", "textarea"):
        target.fill(str(value))
        item["shown"] = target.input_value()
        return
    if kind == "select":
        target.select_option(label=value)
        item["shown"] = value
        return
    if kind in ("radio", "checkboxes"):
        index = item["options"].index(value)
        option = page.locator(f'[data-agent-key="{_css_string(key)}::{index}"]').first
        _press_choice(option)
        item["shown"] = value
        return
    if kind == "checkbox":
        if bool(value) != target.is_checked():
            _press_choice(target)
        item["shown"] = value
        return
    if kind == "yesno":
        target.locator(
            "button", has_text=re.compile(rf"^\s*{re.escape(value)}\s*$", re.I)
        ).first.click()
        item["shown"] = value
        return
    if kind == "combobox":
        item["shown"] = _choose_in_combobox(page, target, str(value), timeout_ms)
        if item["shown"] is None:
            item["value"], item["source"] = None, None
        elif not item["options"]:
            item["value"] = item["shown"]
        return
    raise HandOff(f"the form has a control the agent cannot fill ({kind})")


def _press_choice(option: Any) -> None:
    """Click what a person clicks for a radio or checkbox: its visible control or label."""
    if option.is_visible():
        option.check()
        return
    holder = option.locator(
        "xpath=ancestor::*[@role='radio' or @role='checkbox' or self::label][1]"
    )
    if holder.count():
        holder.first.click()
    else:
        option.check(force=True)


def _choose_in_combobox(page: Any, box: Any, wanted: str, timeout_ms: float) -> str | None:
    """Open a searchable select and choose the option that matches (typing to search when
    the first list has none); what it shows, or None when no option fits."""
    container = box.locator(
        "xpath=ancestor::*[contains(@class,'select') and .//*[contains(@class,'select__control')]][1]"
    )
    scope = container.first if container.count() else page
    options = scope.locator("[role=option]")
    menu = scope.locator("[role=listbox], .select__menu")
    wait = min(timeout_ms, 5000)
    for typed in ("", _search_text(wanted)):
        box.click()
        box.fill("")
        if typed:
            box.press_sequentially(typed, delay=15)
        try:
            menu.first.wait_for(state="visible", timeout=wait)
            options.first.wait_for(state="visible", timeout=wait if typed else 1500)
        except Exception:  # noqa: BLE001 - nothing offered (yet): search, or give up
            box.press("Escape")
            continue
        texts = [t.strip() for t in options.all_inner_texts()]
        choice = _best_option(texts, wanted)
        if choice is not None:
            options.nth(texts.index(choice)).click()
            return choice
        box.press("Escape")
    return None


def _search_text(wanted: str) -> str:
    return wanted.split(",")[0].strip()[:30]


def _best_option(options: list[str], wanted: str) -> str | None:
    """The option a person would pick for the answer: the same words, an option that starts
    with them, "decline" wording for a decline, or the one place that matches city and
    country; None when none or several fit."""
    lowered = wanted.strip().lower()
    for option in options:
        if option.lower() == lowered:
            return option
    starting = [o for o in options if o.lower().startswith(lowered)]
    if len(starting) == 1:
        return starting[0]
    if lowered == "decline":
        return next((o for o in options if DECLINE.search(o)), None)
    city = _search_text(wanted).lower()
    places = [o for o in options if o.lower().startswith(city + ",")]
    countries = set(_countries_in(wanted))
    if countries:
        places = [o for o in places if countries & set(_countries_in(o))]
    return places[0] if len(places) == 1 else None


def _check_upload(page: Any) -> None:
    errors = page.locator(UPLOAD_ERROR_CSS)
    for index in range(errors.count()):
        if errors.nth(index).is_visible():
            text = errors.nth(index).inner_text().strip()
            raise HandOff(f"the page refused the uploaded file: {text[:200]}")


def _screenshot(page: Any) -> bytes:
    data = page.screenshot(full_page=True, type="png")
    if len(data) > MAX_SCREENSHOT_BYTES:
        data = page.screenshot(full_page=False, type="png")
    return data


def _next_page(page: Any, found: ats_module.Ats) -> bool:
    """Go to the form's next page when it has one; False on the last page."""
    if page.locator(found.submit).first.is_visible() if found.submit else False:
        return False
    selector = found.next_button or "button:has-text('Next'), button:has-text('Continue')"
    candidates = page.locator(selector)
    for index in range(candidates.count()):
        button = candidates.nth(index)
        if button.is_visible():
            before = page.evaluate(DISCOVER_KEYS_JS)
            button.click()
            page.wait_for_function(f"(before) => ({DISCOVER_KEYS_JS}) !== before", arg=before)
            return True
    return False


# The visible part of the page, to see that a Next click moved on.
DISCOVER_KEYS_JS = "(() => document.body.innerText.length + ':' + document.querySelectorAll('[data-agent-key]').length + ':' + [...document.querySelectorAll('.step')].map(s => s.hidden).join())()"


def _await_confirmation(
    page: Any, guard: NetworkGuard, found: ats_module.Ats, timeout_ms: float, outcome: Outcome
) -> None:
    """Record success only when the confirmation page or message shows."""
    deadline = time.monotonic() + timeout_ms / 1000
    while time.monotonic() < deadline:
        try:
            if found.confirmed_css and page.locator(found.confirmed_css).count():
                break
            if found.confirmed_path and page.url.split("?")[0].rstrip("/").endswith(
                found.confirmed_path
            ):
                page.wait_for_load_state("load")
                break
            body = page.inner_text("body")
        except Exception:  # noqa: BLE001 - the page is navigating: look again
            page.wait_for_timeout(100)
            continue
        if ERROR_TEXT.search(body):
            outcome.status = "needs_human"
            outcome.reason = "the ATS did not take the application: " + ERROR_TEXT.search(body)[0]
            outcome.confirmation = _screenshot(page)
            return
        if ats_module.CONFIRMATION_TEXT.search(body) and not page.locator(found.submit).count():
            break
        page.wait_for_timeout(150)
    else:
        blocked = guard.navigation_blocked()
        outcome.status = "needs_human"
        outcome.reason = (
            f"the form was sent to an address that may not be reached ({blocked.url})"
            if blocked
            else "Submit was clicked but no confirmation appeared; check your email for the "
            "ATS's confirmation before applying again"
        )
        outcome.confirmation = _screenshot(page)
        return
    try:
        _check_captcha(page)
    except HandOff:
        outcome.status = "needs_human"
        outcome.reason = "a CAPTCHA appeared after Submit; a person must finish it"
        outcome.confirmation = _screenshot(page)
        return
    outcome.status = "submitted"
    outcome.confirmation = _screenshot(page)
