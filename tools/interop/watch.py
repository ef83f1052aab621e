"""Watches Open Zaak while a step of the interop runs (stdlib only).

A thread polls Open Zaak's zaakobjecten about twice a second from the start of a step, so a
change made early in a long step (a burst of hundreds, deletes spread over head polls) is
timed when Open Zaak shows it, not when the step's last change was made. Each change is timed
on its own: `seen` is the end of the first poll that shows it, `not_seen_at` the start of the
last poll that did not (the path of a change is looked for from then on).
"""

import threading
import time


class Watcher(threading.Thread):
    def __init__(self, runner, step, interval=0.5):
        super().__init__(daemon=True, name=f"watch-step-{step}")
        self.runner = runner
        self.step = step
        self.interval = interval
        self.polls = 0
        self.errors = 0
        self.last_error = None
        self.done = threading.Event()

    def begin(self):
        self.start()
        return self

    def run(self):
        before = time.time()
        while not self.done.is_set():
            started = time.time()
            try:
                objs = self.runner.by_object()
            except Exception as e:  # noqa: BLE001 — a busy Open Zaak: poll again
                self.errors += 1
                self.last_error = f"{type(e).__name__}: {e}"
                self.done.wait(1.0)
                continue
            t = time.time()
            self.polls += 1
            for c in self.runner.pending(self.step):
                if c["t"] > started:
                    continue  # made after this poll began: its answer cannot tell
                if self.runner.shows(c, objs.get(c["oo"], [])):
                    c["not_seen_at"] = max(before, c["t"])
                    c["latency"] = round(t - c["t"], 1)
                    c["seen"] = t  # last: pending() keys on it
            before = started
            self.done.wait(self.interval)

    def check(self):
        """Raises when Open Zaak has not answered for a long while."""
        if self.errors > 60:
            raise RuntimeError(f"Open Zaak's zaakobjecten could not be read {self.errors} times: {self.last_error}")

    def finish(self):
        self.done.set()
        self.join(60)
