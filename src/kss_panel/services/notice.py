"""Publishing from the policies alone: the privacy notice and the record of processing activities.

No register and no credentials: what the controller publishes is a function
of the policies (and the language and format asked for), so the same
policies give byte-identical files.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .. import files, notice, reports
from ..model import one_of
from ..policy import LANGUAGES, Policies

FORMATS = ("md", "html")


def publish(policies: Policies, *, language: str = "fi", record: bool = False, format_: str = "md", out: Path | None = None) -> dict[str, Any]:
    """The privacy notice (or, with ``record``, the Art. 30 record) in ``language`` and ``format_``.

    With ``out`` it is written to that new 0600 file; otherwise its text is
    returned. ``examples`` names the recipients the policy marks as examples,
    which must be replaced before the document is published.
    """
    one_of(language, LANGUAGES, "language", "language")
    one_of(format_, FORMATS, "format", "format")
    document = notice.record(policies, language) if record else notice.notice(policies, language)
    text = reports.render(document, format_)
    if out is not None:
        files.write_new(out, text)
    return {
        "document": document.kind,
        "language": language,
        "format": format_,
        "hash": policies.hash,
        "examples": [key for key, recipient in policies.disclosure.recipients.items() if recipient.example],
        "file": None if out is None else str(out),
        "text": text if out is None else None,
    }
