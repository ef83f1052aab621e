"""Small helpers shared by the interop runner's modules (stdlib only)."""

import datetime
import json


def read_jsonl(path):
    out = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    out.append(json.loads(line))
                except ValueError:
                    pass
    except OSError:
        pass
    return out


def parse_ts(text):
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except (ValueError, AttributeError):
        return None


def count_in(path, needle):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return sum(line.count(needle) for line in f)
    except OSError:
        return 0
