#!/usr/bin/python3
"""Renders chat templates and snippets with Debian's python3-jinja2 through the shared reference
renderer (../shared/tools/render_chat_template.py), for tests/test_jinja.cpp.

usage: reference_chat.py OUT.json --pairs TEMPLATE CASE [TEMPLATE CASE ...]
       reference_chat.py OUT.json --snippets FILE CASE   (snippets separated by lines "====")
OUT.json: a list, in order, of {"ok": true, "text": ...} or {"ok": false, "error": ...}.
"""
import json
import os
import sys

shared = os.environ.get("KILN_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "shared"))
sys.path.insert(0, os.path.join(shared, "tools"))
from render_chat_template import render  # noqa: E402


def one(template, case):
    try:
        return {"ok": True, "text": render(template, dict(case))}
    except Exception as e:  # what the reference renderer reports as exit 1
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def main():
    out, mode, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    results = []
    if mode == "--pairs":
        for t, c in zip(args[0::2], args[1::2]):
            results.append(one(open(t, encoding="utf-8").read(), json.load(open(c, encoding="utf-8"))))
    else:
        case = json.load(open(args[1], encoding="utf-8"))
        for s in open(args[0], encoding="utf-8").read().split("\n====\n"):
            if s.strip():
                results.append(one(s, case))
    json.dump(results, open(out, "w", encoding="utf-8"), ensure_ascii=False)


if __name__ == "__main__":
    main()
