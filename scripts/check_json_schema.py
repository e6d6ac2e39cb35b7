#!/usr/bin/python3
"""Validates texts against JSON schemas with Debian's python3-jsonschema (formats checked), for
tests/test_grammar.cpp. Without its optional rfc3339 package this jsonschema checks "time" as draft 3's
HH:MM:SS and "date-time" not at all; both are checked here as RFC 3339 has them, by datetime.fromisoformat.

usage: check_json_schema.py CASES.json   (a list of {"schema": ..., "text": "..."})
Prints a JSON list, in order, of {"ok": true} or {"ok": false, "error": "..."}.
"""
import json
import sys
from datetime import datetime, time

import jsonschema


def rfc3339_time(value):
    """RFC 3339 full-time: HH:MM:SS, a fraction, and Z or an offset."""
    if not isinstance(value, str):
        return True
    if not (value.endswith("Z") or (len(value) > 6 and value[-6] in "+-")):
        return False
    time.fromisoformat(value.replace("Z", "+00:00"))
    return True


def date_time_errors(schema, value, path="$"):
    """date-time strings that datetime.fromisoformat refuses, wherever the schema asks for one."""
    out = []
    if isinstance(schema, dict):
        if schema.get("format") == "date-time" and isinstance(value, str):
            try:
                datetime.fromisoformat(value.replace("Z", "+00:00"))
                if not (value.endswith("Z") or value[-6] in "+-"):
                    out.append(f"{path}: no time offset")
            except ValueError as e:
                out.append(f"{path}: {e}")
        for k, sub in schema.get("properties", {}).items():
            if isinstance(value, dict) and k in value:
                out += date_time_errors(sub, value[k], f"{path}.{k}")
        if isinstance(schema.get("items"), dict) and isinstance(value, list):
            for i, v in enumerate(value):
                out += date_time_errors(schema["items"], v, f"{path}[{i}]")
    return out


def check(case):
    try:
        value = json.loads(case["text"])
    except json.JSONDecodeError as e:
        return {"ok": False, "error": f"not JSON: {e}"}
    checker = jsonschema.FormatChecker()
    checker.checks("time", raises=ValueError)(rfc3339_time)
    validator = jsonschema.Draft202012Validator(case["schema"], format_checker=checker)
    errors = [e.message for e in validator.iter_errors(value)] + date_time_errors(case["schema"], value)
    return {"ok": not errors, "error": "; ".join(errors)}


def main():
    print(json.dumps([check(c) for c in json.load(open(sys.argv[1], encoding="utf-8"))]))


if __name__ == "__main__":
    main()
