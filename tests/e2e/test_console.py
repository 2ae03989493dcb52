"""The console, end to end in chromium: sign in, write, validate, test, deploy, watch
deliveries arrive from a real tracking client, see retries and a dead letter when the
endpoint breaks, and replay it through a fixed version. A screenshot of each step goes to
build/console-screens/."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import segment.analytics as segment

from tests.e2e.conftest import ADMIN_KEY, SCREENS, Sink, serving

WAIT_MS = 30_000


class Steps:
    """Screenshots, numbered in the order they were taken."""

    def __init__(self, page: Any) -> None:
        self.page = page
        self.n = 0
        SCREENS.mkdir(parents=True, exist_ok=True)
        for old in SCREENS.glob("*.png"):
            old.unlink()

    def shot(self, name: str, full: bool = False) -> None:
        self.n += 1
        self.page.screenshot(path=str(SCREENS / f"{self.n:02d}-{name}.png"), full_page=full)


def rows(page: Any, outcome: str) -> Any:
    return page.locator(f"#deliveries tbody tr[data-outcome={outcome}]")


def test_console_write_test_deploy_watch_and_replay(
    browser: Any, sink: Sink, tmp_path: Path
) -> None:
    from playwright.sync_api import expect

    expect.set_options(timeout=WAIT_MS)
    with serving(tmp_path / "data") as served:
        context = browser.new_context(viewport={"width": 1280, "height": 800})
        page = context.new_page()
        problems: list[str] = []
        page.on("console", lambda m: m.type in ("error", "warning") and problems.append(m.text))
        page.on("pageerror", lambda e: problems.append(str(e)))
        outside: list[str] = []
        page.on(
            "request",
            lambda r: None if r.url.startswith(served.url) else outside.append(r.url),
        )
        steps = Steps(page)

        # -- sign in -------------------------------------------------------------------
        response = page.goto(served.url + "/")
        assert response is not None
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        page.fill("#api-key", "fk_wrong")
        page.click("text=Sign in")
        expect(page.get_by_role("alert")).to_contain_text("not accepted")
        assert [p for p in problems if "401" not in p] == []
        problems.clear()  # the refused key's 401, as expected
        page.fill("#api-key", ADMIN_KEY)
        steps.shot("sign-in")
        page.click("text=Sign in")
        expect(page.locator(".sidebar")).to_contain_text("Functions")
        assert ADMIN_KEY not in page.url
        assert page.evaluate("document.cookie") == ""

        # -- a source, its write key shown once ------------------------------------------
        page.click("text=Manage sources")
        page.fill("#source-name", "web")
        page.click("text=Create source")
        write_key = page.locator("#write-key").inner_text()
        assert write_key
        steps.shot("source-created")

        # -- a function from a template; a validation error on its line; fixed ------------
        page.click("text=+ New function")
        page.check("input[value=webhook]")
        page.fill("#new-name", "webhook")
        page.click("text=Open in the editor")
        validity = page.locator(".validity")
        expect(validity).to_contain_text("Valid")
        editor = page.locator("[data-file='handler.py'] .cm-content")
        editor.click()
        page.keyboard.press("Control+End")
        page.keyboard.insert_text("import os")
        page.keyboard.press("Escape")  # the completion popup, if any
        expect(validity).to_contain_text("1 problem")
        bad = page.locator("[data-file='handler.py'] .cm-line", has_text="import os")
        lines = page.locator("[data-file='handler.py'] .cm-line").all_inner_texts()
        texts = [line.replace("\xa0", " ").strip() for line in lines]
        assert texts.count("import os") == 1, texts
        line_no = texts.index("import os") + 1
        expect(page.locator(".problems")).to_contain_text(f"handler.py:{line_no}")
        expect(page.locator(".problems")).to_contain_text('module "os" is not available')
        marker = page.locator("[data-file='handler.py'] .cm-lint-marker-error")
        expect(marker).to_have_count(1)
        steps.shot("validation-error")
        marker_box, line_box = marker.bounding_box(), bad.bounding_box()
        assert marker_box and line_box
        assert (
            abs(
                (marker_box["y"] + marker_box["height"] / 2)
                - (line_box["y"] + line_box["height"] / 2)
            )
            < line_box["height"]
        ), (marker_box, line_box, problems)
        bad.click()
        page.keyboard.press("End")
        page.keyboard.press("Shift+Home")
        page.keyboard.press("Backspace")
        expect(validity).to_contain_text("Valid")
        page.click("#save-version")
        expect(page.locator(".view-head h1")).to_have_text("webhook")

        # -- settings, then a test with a sample event, against the unsaved code ----------
        page.get_by_role("tab", name="Settings & deploy").click()
        page.fill("#setting-url", sink.url)
        page.fill("#setting-api_key", "sk_console_secret_123")
        page.get_by_role("tab", name="Test").click()
        page.select_option("#test-pick", "sample:track")
        page.click("#run-test")
        result = page.locator(".test-result")
        expect(result.locator(".outcome-line")).to_contain_text("delivered")
        expect(result).to_contain_text("INFO sent track")
        expect(result).to_contain_text("127.0.0.1")
        assert "sk_console_secret_123" not in result.inner_text()  # masked in requests
        assert sink.received and sink.received[-1].headers["authorization"].endswith("123")
        steps.shot("test-delivered")

        # -- deploy to a new instance on the source ---------------------------------------
        page.get_by_role("tab", name="Settings & deploy").click()
        web = page.locator("#deploy-source option", has_text="web (src_")
        page.select_option("#deploy-source", web.get_attribute("value"))
        page.click("#deploy")
        expect(page.locator("#deployed-instance")).to_be_visible()
        steps.shot("deployed")
        page.click("#deployed-instance")
        expect(page.locator("#deliveries")).to_be_visible()

        # -- events from a real tracking client arrive in the table -----------------------
        client = segment.Client(write_key, host=served.url, sync_mode=True)
        for i in range(3):
            client.track(f"user-{i}", "Order Completed", {"order": i})
        client.flush()
        expect(rows(page, "delivered")).to_have_count(3)
        steps.shot("deliveries")

        # -- the endpoint breaks: retries, then a dead letter -----------------------------
        sink.broken = True
        client.track("user-9", "Order Completed", {"order": 9})
        client.flush()
        expect(rows(page, "failed")).to_have_count(1)
        expect(rows(page, "retry")).to_have_count(1)
        rows(page, "failed").first.focus()
        page.keyboard.press("Enter")
        drawer = page.get_by_role("complementary", name="Delivery details")
        expect(drawer).to_be_visible()
        expect(drawer).to_contain_text("503")
        steps.shot("dead-letter-drawer")
        page.keyboard.press("Escape")
        expect(drawer).to_be_hidden()

        # -- fix the code (send X-Api-Version: 2), save version 2 -------------------------
        page.click(".sidebar a[href^='#/function/']")
        expect(validity).to_contain_text("Valid")
        page.locator("[data-file='handler.py'] .cm-line", has_text="headers=").click()
        page.keyboard.press("End")
        page.keyboard.press("ArrowLeft")
        page.keyboard.press("ArrowLeft")
        page.keyboard.insert_text(', "X-Api-Version": "2"')
        expect(page.locator("[data-file='handler.py'] .cm-content")).to_contain_text(
            '"X-Api-Version": "2"}'
        )
        expect(validity).to_contain_text("Valid")

        # -- a second file: helpers.py, imported by handler.py; its error on its line -----
        page.fill("#new-file-name", "../up.py")
        page.click("#add-file")
        expect(page.locator("#new-file-status")).to_contain_text("..")
        page.fill("#new-file-name", "helpers.py")
        page.click("#add-file")
        helpers_tab = page.get_by_role("tab", name="helpers.py")
        expect(helpers_tab).to_have_attribute("aria-selected", "true")
        helpers = page.locator("[data-file='helpers.py'] .cm-content")
        helpers.click()
        page.keyboard.insert_text('"""Helpers."""\n\nimport os\n\n\ndef tag(event):\n')
        page.keyboard.insert_text('    return "tagged " + event.type.upper()\n')
        page.keyboard.press("Escape")
        helpers_tab.focus()
        page.keyboard.press("Home")  # the file tabs, by keyboard
        handler_tab = page.get_by_role("tab", name="handler.py")
        expect(handler_tab).to_have_attribute("aria-selected", "true")
        expect(handler_tab).to_be_focused()
        page.locator("[data-file='handler.py'] .cm-line", has_text="from functions_sdk").click()
        page.keyboard.press("Home")
        page.keyboard.insert_text("from helpers import tag\n")
        page.keyboard.press("Control+End")
        page.keyboard.insert_text("\n\ndef on_page(event, settings):\n")
        page.keyboard.insert_text("    logger.info(tag(event))\n")
        page.keyboard.insert_text("    return send(event, settings)\n")
        page.keyboard.press("Escape")
        expect(validity).to_contain_text("1 problem")
        expect(page.locator(".problems")).to_contain_text("helpers.py:3")
        expect(page.locator(".problems")).to_contain_text('module "os" is not available')
        expect(helpers_tab).to_contain_text("1")  # the problem count on the file's tab
        page.locator(".problems button", has_text="helpers.py:3").click()
        expect(helpers_tab).to_have_attribute("aria-selected", "true")
        helper_lines = page.locator("[data-file='helpers.py'] .cm-line").all_inner_texts()
        assert [t.replace("\xa0", " ").strip() for t in helper_lines].index("import os") == 2
        expect(page.locator("[data-file='helpers.py'] .cm-lint-marker-error")).to_have_count(1)
        expect(page.locator("[data-file='handler.py'] .cm-lint-marker-error")).to_have_count(0)
        steps.shot("helpers-validation-error")
        page.locator("[data-file='helpers.py'] .cm-line", has_text="import os").click()
        page.keyboard.press("End")
        page.keyboard.press("Shift+Home")
        page.keyboard.press("Backspace")
        expect(validity).to_contain_text("Valid")
        page.get_by_role("tab", name="Test").click()
        page.select_option("#test-pick", "sample:page")
        page.select_option("#test-settings", index=1)  # the instance's stored settings
        page.click("#run-test")
        expect(result.locator(".outcome-line")).to_contain_text("delivered")
        expect(result).to_contain_text("tagged PAGE")
        steps.shot("helpers-test-delivered")

        page.click("#save-version")
        expect(page.get_by_role("status").filter(has_text="Saved as version 2")).to_be_visible()
        page.get_by_role("tab", name="Versions").click()
        page.get_by_label("compare version 1").check()
        page.get_by_label("compare version 2").check()
        page.click("#compare")
        expect(page.locator(".cm-mergeView").first).to_be_visible()
        expect(page.locator(".cm-changedLine").first).to_be_visible()
        expect(page.locator(".diff")).to_contain_text("helpers.py (added in v2)")
        steps.shot("versions-diff", full=True)

        # -- replay the dead letter through version 2 ------------------------------------
        page.click(".sidebar a[href^='#/instance/']")
        v2 = page.locator("#replay-version option", has_text="version 2")
        page.select_option("#replay-version", v2.get_attribute("value"))
        page.click("#replay")
        expect(page.locator("#replay-form")).to_contain_text("Queued 1 event")
        expect(rows(page, "delivered")).to_have_count(4)
        assert any(r.headers.get("x-api-version") == "2" for r in sink.received)
        steps.shot("replayed")

        # -- a narrow window --------------------------------------------------------------
        page.set_viewport_size({"width": 420, "height": 860})
        steps.shot("narrow", full=True)
        context.close()

    assert outside == []
    assert [p for p in problems if "Content Security Policy" in p] == []
    assert problems == [], problems
