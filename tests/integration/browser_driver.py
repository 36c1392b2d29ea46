#!/usr/bin/env python3
"""Drives headless Chromium over the DevTools protocol through a pipe
(--remote-debugging-pipe: JSON messages ending in NUL on fds 3 and 4; no WebSocket, no
packages): opens one page and reports what the page shows while it lives.

  browser_driver.py --chromium PATH --home DIR --url URL [--ready-when JS] [--wait-for JS]
                    [--watch JS] [--timeout SECONDS] [--eval JS] [--screenshot FILE]
                    [--dom FILE] [--size 1400,1100]

--ready-when: prints READY once the expression is truthy (the caller may then act);
--wait-for: then waits until it is truthy (exit 1 at --timeout);
--watch: an expression whose every new value is printed as "WATCH <json>";
--eval: printed as "EVAL <json>" at the end; --screenshot and --dom save the page.
Chromium runs with HOME=DIR (its NSS database: certificates) and profile DIR/profile. The
page's own errors (exceptions, console, failed loads) go to stderr.
"""
import argparse
import base64
import fcntl
import json
import os
import subprocess
import sys
import time


class DevTools:
    def __init__(self, chromium, home, size):
        # The child's ends are moved above 4 first, so that making fds 3 and 4 in the child
        # never lands on one of them (dup2 onto the same number would keep close-on-exec).
        def above_4(fd):
            high = fcntl.fcntl(fd, fcntl.F_DUPFD, 10)
            os.close(fd)
            return high

        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        to_chrome_r, from_chrome_w = above_4(to_chrome_r), above_4(from_chrome_w)

        def child_fds():  # Chromium reads commands on fd 3 and writes on fd 4
            os.dup2(to_chrome_r, 3, inheritable=True)
            os.dup2(from_chrome_w, 4, inheritable=True)

        log = open(os.path.join(home, "chromium.log"), "ab")
        self.proc = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             "--remote-debugging-pipe", "--user-data-dir=" + os.path.join(home, "profile"),
             "--window-size=" + size, "about:blank"],
            env=dict(os.environ, HOME=home), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
            # Not close_fds: it would close fds 3 and 4 after child_fds made them.
            preexec_fn=child_fds, close_fds=False)
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buffer = b""
        self._next_id = 1

    def _read_message(self):
        while b"\0" not in self._buffer:
            chunk = os.read(self._from_chrome, 65536)
            if not chunk:
                raise RuntimeError("chromium closed the DevTools pipe (see chromium.log)")
            self._buffer += chunk
        raw, self._buffer = self._buffer.split(b"\0", 1)
        return json.loads(raw)

    def send(self, method, params=None, session=None):
        msg_id = self._next_id
        self._next_id += 1
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        while True:
            reply = self._read_message()
            if reply.get("id") == msg_id:
                if "error" in reply:
                    raise RuntimeError(method + ": " + reply["error"].get("message", "?"))
                return reply.get("result", {})
            event = reply.get("method", "")
            if event in ("Runtime.exceptionThrown", "Runtime.consoleAPICalled", "Log.entryAdded"):
                print("page: " + event + " " + json.dumps(reply.get("params"))[:600], file=sys.stderr)

    def close(self):
        try:
            self.send("Browser.close")
        except Exception:  # already gone
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def main():
    p = argparse.ArgumentParser()
    for flag in ("--chromium", "--home", "--url"):
        p.add_argument(flag, required=True)
    for flag in ("--ready-when", "--wait-for", "--watch", "--eval", "--screenshot", "--dom"):
        p.add_argument(flag)
    p.add_argument("--timeout", type=float, default=60)
    p.add_argument("--size", default="1400,1100")
    a = p.parse_args()

    browser = DevTools(a.chromium, a.home, a.size)
    try:
        target = browser.send("Target.createTarget", {"url": "about:blank"})["targetId"]
        session = browser.send("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]

        def page(method, params=None):
            return browser.send(method, params, session)

        def evaluate(expression):
            r = page("Runtime.evaluate", {"expression": expression, "returnByValue": True})
            if "exceptionDetails" in r:
                return None  # e.g. the element is not there yet
            return r["result"].get("value")

        for domain in ("Page", "Runtime", "Log"):
            page(domain + ".enable")
        page("Page.navigate", {"url": a.url})

        deadline = time.monotonic() + a.timeout
        last_watch = [None]

        def watch():
            if a.watch:
                value = json.dumps(evaluate(a.watch))
                if value != last_watch[0]:
                    print("WATCH " + value, flush=True)
                    last_watch[0] = value

        def until(expression):
            while True:
                watch()
                if evaluate(expression):
                    return True
                if time.monotonic() > deadline:
                    return False
                time.sleep(0.2)

        ok = True
        if a.ready_when:
            ok = until(a.ready_when)
            if ok:
                print("READY", flush=True)
        if ok and a.wait_for:
            ok = until(a.wait_for)
        watch()
        if a.eval:
            print("EVAL " + json.dumps(evaluate(a.eval), separators=(",", ":")), flush=True)
        if a.screenshot:
            shot = page("Page.captureScreenshot", {"format": "png"})
            with open(a.screenshot, "wb") as f:
                f.write(base64.b64decode(shot["data"]))
        if a.dom:
            with open(a.dom, "w") as f:
                f.write(evaluate("document.documentElement.outerHTML") or "")
        if not ok:
            print("TIMEOUT after %g s" % a.timeout, flush=True)
        return 0 if ok else 1
    finally:
        browser.close()


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception as e:  # noqa: BLE001 - one line for the test's log
        print("browser_driver: %s" % e, file=sys.stderr)
        sys.exit(2)
