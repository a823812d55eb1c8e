"""The one place where rule regexes are compiled: google-re2, linear time, cached.

re2 has no backtracking, so no pattern can hang the engine; the price is that backreferences and
lookaround are not supported, and such patterns are refused at load with a message saying so.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import re2

_OPTIONS = re2.Options()
_OPTIONS.log_errors = False  # the error is reported to the rule author; re2's own stderr line is noise


@lru_cache(maxsize=4096)
def compile_regex(pattern: str) -> Any:
    """Compile `pattern` with re2; raise `ValueError` naming the reason when re2 refuses it."""
    try:
        return re2.compile(pattern, options=_OPTIONS)
    except re2.error as exc:
        reason = exc.args[0].decode("utf-8", "replace") if exc.args and isinstance(exc.args[0], bytes) else str(exc)
        msg = (
            f"re2 cannot compile regex {pattern!r}: {reason} (cepflow runs regexes with the "
            "linear-time re2 engine: backreferences and lookaround are not supported)"
        )
        raise ValueError(
            msg
        ) from None
    except (UnicodeError, TypeError) as exc:
        msg = f"re2 cannot compile regex {pattern!r}: {exc}"
        raise ValueError(msg) from None
