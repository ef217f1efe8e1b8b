"""What a loader found wrong with its input: the load report and the typed errors.

A loader never crashes on one bad row and never drops a row silently. Each problem becomes an
:class:`Issue` (kind, where, what) in the :class:`LoadReport`; the row is kept when the problem
is harmless (an unknown field, a missing subtitle file) and dropped when the row cannot become a
:class:`~m1.schema.Question` (a malformed row, a duplicate id, a missing video when videos are
required). Problems that make the whole load impossible (no annotation file, a file that is not
JSON at all) raise :class:`DataError`.

This module does not read files; loaders do.
"""

from __future__ import annotations

from collections import Counter
from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from m1.schema import Question


class DataError(ValueError):
    """The benchmark cannot be loaded at all (missing annotation file, unreadable file, bad split)."""


class RowError(ValueError):
    """One record cannot become a Question; the loader turns it into a ``malformed_row`` issue."""


class IssueKind(StrEnum):
    MALFORMED_ROW = "malformed_row"  # row dropped: a required field is missing or has a bad value
    DUPLICATE_ID = "duplicate_id"  # row dropped: its qid was already loaded
    MISSING_VIDEO = "missing_video"  # row dropped unless require_videos=False
    MISSING_SUBTITLES = "missing_subtitles"  # row kept, without subtitles
    BAD_SUBTITLES = "bad_subtitles"  # row kept; unreadable subtitle lines skipped and counted here
    UNKNOWN_FIELD = "unknown_field"  # row kept; the field is ignored (listed once per field name)
    UNLABELLED = "unlabelled"  # row kept with answer=None (e.g. a test split without ground truth)


#: Issue kinds after which the row is not in ``LoadResult.questions``.
DROPPING_KINDS = frozenset({IssueKind.MALFORMED_ROW, IssueKind.DUPLICATE_ID, IssueKind.MISSING_VIDEO})


class Issue(BaseModel):
    """One problem: ``where`` names the file and row (or the qid), ``message`` says what was wrong."""

    model_config = ConfigDict(extra="forbid")

    kind: IssueKind
    where: str
    message: str


class LoadReport(BaseModel):
    """Counts and lists everything a load found; ``summary()`` renders it for a person."""

    model_config = ConfigDict(extra="forbid")

    benchmark: str
    split: str
    files: list[str] = Field(default_factory=list, description="Annotation files read.")
    rows_read: int = 0
    loaded: int = 0
    issues: list[Issue] = Field(default_factory=list)

    def add(self, kind: IssueKind, where: str, message: str) -> None:
        self.issues.append(Issue(kind=kind, where=where, message=message))

    def count(self, kind: IssueKind) -> int:
        return sum(1 for i in self.issues if i.kind == kind)

    def of_kind(self, kind: IssueKind) -> list[Issue]:
        return [i for i in self.issues if i.kind == kind]

    @property
    def dropped(self) -> int:
        return self.rows_read - self.loaded

    @property
    def ok(self) -> bool:
        """True when nothing was dropped and nothing was malformed (unknown fields allowed)."""
        return self.dropped == 0 and not any(i.kind in DROPPING_KINDS for i in self.issues)

    def summary(self, max_listed: int = 10) -> str:
        counts = Counter(i.kind.value for i in self.issues)
        lines = [
            f"{self.benchmark}/{self.split}: {self.loaded} of {self.rows_read} rows loaded "
            f"from {', '.join(self.files) or '-'}"
        ]
        for kind, n in sorted(counts.items()):
            lines.append(f"  {kind}: {n}")
            for issue in [i for i in self.issues if i.kind.value == kind][:max_listed]:
                lines.append(f"    {issue.where}: {issue.message}")
            if n > max_listed:
                lines.append(f"    ... {n - max_listed} more")
        return "\n".join(lines)


class LoadResult(BaseModel):
    """What ``load_benchmark`` returns: the questions that loaded, and the report of the rest."""

    model_config = ConfigDict(extra="forbid")

    questions: list[Question]
    report: LoadReport
