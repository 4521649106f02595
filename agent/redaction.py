"""Secret redaction: the value of every secret-looking environment variable hidden in text shown or logged.

Error messages from a server can echo the request back (an Authorization header in a 401 page); they are shown to
the user and logged, so they pass through here first.
"""

from __future__ import annotations

import os
import re

SECRET_NAME = re.compile(r"TOKEN|API_KEY|APIKEY|SECRET|PASSWORD", re.IGNORECASE)


def redact(text: str, extra_secrets: tuple[str, ...] = ()) -> str:
    """`text` with the values of secret environment variables (HF_TOKEN, JUDGE_API_KEY, ...) and `extra_secrets`
    replaced by `[redacted]`."""
    secrets = [value for name, value in os.environ.items() if len(value) >= 8 and SECRET_NAME.search(name)]
    for value in [*secrets, *(s for s in extra_secrets if s)]:
        if value in text:
            text = text.replace(value, "[redacted]")
    return text
