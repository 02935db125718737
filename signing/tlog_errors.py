"""The transparency log's branch of the ``SigningError`` tree (see ``edxml.errors``).

A log proof, a checkpoint or a signed note that does not check out means the log
cannot prove what it claims; each failure names its reason::

    SigningError                     edxml.errors
    └── TransparencyError            a log proof, checkpoint or note does not check out
        ├── InclusionProofError      a leaf is not in the tree the checkpoint names
        ├── ConsistencyProofError    a newer tree does not extend an older one (fork, rewrite)
        ├── MalformedNoteError       a signed note or key string is not in the C2SP format
        ├── MalformedCheckpointError a checkpoint body is not in the C2SP format
        ├── NoteSignatureError       no valid signature by the expected key on a note
        └── TimestampError           an RFC 3161 timestamp request, reply or token is unusable

``reason_code`` values are stable; messages are one line for a clerk.
"""

from __future__ import annotations

from edxml.errors import SigningError

__all__ = [
    "ConsistencyProofError",
    "InclusionProofError",
    "MalformedCheckpointError",
    "MalformedNoteError",
    "NoteSignatureError",
    "TimestampError",
    "TransparencyError",
]


class TransparencyError(SigningError):
    """A transparency-log proof, checkpoint or signed note does not check out."""

    reason_code = "transparency-log"


class InclusionProofError(TransparencyError):
    """The leaf is not in the tree the checkpoint names (or the proof is malformed)."""

    reason_code = "inclusion-proof"


class ConsistencyProofError(TransparencyError):
    """A newer tree does not extend an older one: the log was forked or rewritten."""

    reason_code = "consistency-proof"


class MalformedNoteError(TransparencyError, ValueError):
    """A signed note or a note key string is not in the C2SP signed-note format."""

    reason_code = "malformed-note"


class MalformedCheckpointError(TransparencyError, ValueError):
    """A checkpoint body is not in the C2SP tlog-checkpoint format."""

    reason_code = "malformed-checkpoint"


class NoteSignatureError(TransparencyError):
    """The note carries no valid signature by the expected key."""

    reason_code = "note-signature"


class TimestampError(TransparencyError):
    """An RFC 3161 timestamp request, reply or token is unusable or does not match."""

    reason_code = "timestamp"
