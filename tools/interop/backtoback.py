"""Step 4 of an interop round: changes back to back (issue 24), stdlib only.

zaaklink's head poll reads the newest page of zaak onderwerpobjecten (HEAD_PAGE_SIZE = 100 in
src/resync/head.rs) and asks for a pass when the list's count says something happened that the
page does not show (`Shrunk`, `Overflow`). This step makes exactly the sequences that once lost
such a request, at zaaklink's defaults:

1. a burst of --big-burst creates (`maak-klantcontact`), more than a head page: the polls that
   see it answer `Overflow`, and everything made before is pushed off the head page;
2. relinks of older objects right after it (round b: Open Klant's `zaak-ontkoppeld` and
   `zaak-gekoppeld` of one relink reach zaaklink together, in one beat of Open Notificaties);
3. deletes of objects off the head page, one pair (an onderwerpobject on its own, and a
   klantcontact whose onderwerpobject goes by cascade, which no component announces) right
   after each of DELETE_POLLS head polls, the next pair only once a poll has shown the last
   pair gone: polls in a row see the count drop again (overflow then shrink, shrink then
   shrink).

Every change is timed at Open Zaak like the other steps; which head poll saw each delete (its
`why` and `pass_due`) is kept for the report.
"""

import time

from util import parse_ts, read_jsonl

K_BIG_BURST = "create: burst larger than the head page (maak-klantcontact)"
HEAD_PAGE_SIZE = 100  # src/resync/head.rs
DELETE_POLLS = 3
RELINKS = 3


def head_polls(serve_log, since):
    """zaaklink serve's `head poll done` lines after `since`: [(at, fields)]."""
    out = []
    for rec in read_jsonl(serve_log):
        fields = rec.get("fields") or {}
        if fields.get("message") != "head poll done":
            continue
        at = parse_ts(rec.get("timestamp"))
        if at is not None and at > since:
            out.append((at, fields))
    return out


def next_head_poll(runner, after, timeout=240):
    """Waits for the first head poll that finishes after `after` (Open Zaak is watched meanwhile)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        polls = head_polls(runner.serve_log, after)
        if polls:
            return polls[0]
        if runner.serve is None or runner.serve.poll() is not None:
            raise RuntimeError("zaaklink serve is not running while step 4 waits for its head poll")
        time.sleep(0.3)
    raise RuntimeError(f"no head poll logged within {timeout} s (is the head poll on? ZAAKLINK_HEAD_POLL_EVERY)")


def shows_drop(fields, before):
    """Whether a head poll saw objects leave: `Shrunk`, or a count below the one before."""
    count = fields.get("count")
    return "Shrunk" in str(fields.get("why")) or (isinstance(count, int) and before is not None and count < before)


def poll_summary(at, fields, t0):
    return {
        "at_s": round(at - t0, 1),
        "count": fields.get("count"),
        "listed": fields.get("listed"),
        "new": fields.get("new"),
        "emitted": fields.get("emitted"),
        "why": fields.get("why"),
        "pass_due": fields.get("pass_due"),
    }


def run(runner, pool, big_burst, step=4):
    """The step's action. `pool`: older objects ({"kc", "oo", "zaak"}) that still link a zaak,
    free to relink or delete. Returns the step's extra facts for the report."""
    t0 = time.time()
    pool = list(pool)
    big = [
        runner.maak(step, "back to back: burst larger than the head page", f"Grote burst {runner.mode}{i}", runner.zaak(), kind=K_BIG_BURST)
        for i in range(big_burst)
    ]
    burst_api_s = round(time.time() - t0, 1)
    last_create = runner.changes[-1]["t"] if big else t0
    relinked = []
    for obj in pool[:RELINKS]:
        runner.relink(step, "back to back: relink right after the burst", obj)
        relinked.append(obj)
    pool = pool[len(relinked):]
    deletes = []
    after = time.time()
    last = None  # the count of the poll before the last pair was deleted
    for i in range(DELETE_POLLS):
        if len(pool) < 2:
            break
        at, fields = next_head_poll(runner, after)
        # A poll that began before the last pair's DELETEs were answered (the next tick comes
        # at once after a long poll) does not show them: the next pair waits for the poll
        # that does (its count dropped; at most a few polls), so that polls in a row each see
        # the count drop.
        for _ in range(4):
            if last is None or shows_drop(fields, last):
                break
            last = fields.get("count") if isinstance(fields.get("count"), int) else last
            at, fields = next_head_poll(runner, at)
        a, b = pool[0], pool[1]
        pool = pool[2:]
        runner.delete_oo(step, f"back to back: off the head page, after head poll {i + 1}", a)
        runner.delete_kc(step, f"back to back: off the head page, after head poll {i + 1}", b)
        deletes += [runner.changes[-2], runner.changes[-1]]
        last = fields.get("count") if isinstance(fields.get("count"), int) else None
        after = at
    # the poll after the last delete, so that each delete has the poll that saw it
    if deletes:
        next_head_poll(runner, after)
    polls = head_polls(runner.serve_log, t0)
    for c in deletes:
        # the first poll after the change that saw objects leave (a poll logged just after
        # may have begun before the change), else the first poll after it
        later = [(at, f) for at, f in polls if at > c["t"]]
        seen_by = next(((at, f) for at, f in later if "Shrunk" in str(f.get("why"))), later[0] if later else None)
        c["head_poll"] = poll_summary(seen_by[0], seen_by[1], c["t"]) if seen_by else None
    return {
        "big_burst": len(big),
        "big_burst_api_s": burst_api_s,
        "big_burst_last_t": last_create,
        "relinks": len(relinked),
        "deletes": len(deletes),
        "head_polls": [poll_summary(at, f, t0) for at, f in polls],
        "head_page": HEAD_PAGE_SIZE,
    }


def burst_visible_after_last(runner, step, info):
    """Seconds from the burst's last create until Open Zaak showed all of it (issue 24: ≤ 60 s)."""
    seen = [c["seen"] for c in runner.changes if c["step"] == step and c["kind"] == K_BIG_BURST]
    if not seen or any(s is None for s in seen) or not info.get("big_burst_last_t"):
        return None
    return round(max(seen) - info["big_burst_last_t"], 1)
