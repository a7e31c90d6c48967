"""Checkers of Swagger ``format`` values and of string ``pattern``s."""

import base64
import binascii
import datetime
import json
import re

RFC3339 = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})$")
DATE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})$")
UUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
DURATION = re.compile(r"^-?P(?!$)(\d+Y)?(\d+M)?(\d+W)?(\d+D)?(T(?=\d)(\d+H)?(\d+M)?(\d+(\.\d+)?S)?)?$")
INT_RANGES = {"int32": (-2**31, 2**31 - 1), "int64": (-2**63, 2**63 - 1)}


_PATTERNS = {}


def compile_pattern(pattern):
    """The compiled ``pattern`` (None if Python cannot read it); ASCII classes, as in ECMA-262."""
    if pattern not in _PATTERNS:
        try:
            _PATTERNS[pattern] = re.compile(pattern, re.ASCII)
        except re.error:
            _PATTERNS[pattern] = None
    return _PATTERNS[pattern]


def format_problem(value, fmt):
    """Why ``value`` is not of format ``fmt``, or None when it is (or the format is not checked)."""
    if fmt in INT_RANGES and isinstance(value, int) and not isinstance(value, bool):
        low, high = INT_RANGES[fmt]
        return None if low <= value <= high else f"{value} is outside the {fmt} range"
    if not isinstance(value, str):
        return None
    if fmt == "date-time":
        return None if valid_date_time(value) else f"{json.dumps(value)} is not an RFC 3339 date-time"
    if fmt == "date":
        return None if valid_date(value) else f"{json.dumps(value)} is not a full-date (YYYY-MM-DD)"
    if fmt == "uuid":
        return None if UUID.match(value) else f"{json.dumps(value)} is not a UUID"
    if fmt == "duration":
        return None if DURATION.match(value) else f"{json.dumps(value)} is not an ISO 8601 duration"
    if fmt == "byte":
        try:
            base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            return f"{json.dumps(value)} is not base64"
    return None


def valid_date(text):
    """True for an RFC 3339 full-date that exists in the calendar."""
    match = DATE.match(text)
    if not match:
        return False
    try:
        datetime.date(*map(int, match.groups()))
    except ValueError:
        return False
    return True


def valid_date_time(text):
    """True for an RFC 3339 date-time (a ``T``, seconds and an offset are required)."""
    match = RFC3339.match(text)
    if not match:
        return False
    year, month, day, hour, minute, second = map(int, match.groups()[:6])
    try:
        datetime.datetime(year, month, day, hour, minute, min(second, 59))
    except ValueError:
        return False
    offset = match.group(8)
    if offset not in ("Z", "z") and (int(offset[1:3]) > 23 or int(offset[4:6]) > 59):
        return False
    return second <= 60
