"""The state record of one profile, in the seed's shape. Pure: no I/O.

::

    {
      "previousEndDate": "2026-12-03T18:00:00.000Z",
      "props": {"ctChannelKey": "...", "fluentAggregateVirtualCatalogueRef": "..."},
      "lastRun": {
        "param": {"start": "...", "end": "...", "props": {...}},
        "jobStart": "...", "jobEnd": "...", "status": "SUCCESSFUL"
      }
    }

Timestamps are read with 0-9 fractional digits, with or without a zone (none = UTC),
and written as UTC ISO-8601 with ``Z``.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError, field_validator

from inventory_sync.errors import StateFormatError
from inventory_sync.model import RunStatus, RunSummary, format_timestamp, parse_timestamp


class Props(BaseModel):
    model_config = ConfigDict(extra="forbid")

    ctChannelKey: str
    fluentAggregateVirtualCatalogueRef: str


class RunParam(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: str | None
    end: str
    props: Props


class Failure(BaseModel):
    model_config = ConfigDict(extra="forbid")

    sku: str
    code: str


class LastRun(BaseModel):
    """The seed's ``lastRun``; a failed run adds ``error``, ``failed`` and ``failures``
    (the first product refs that could not be written, with the API's error code)."""

    model_config = ConfigDict(extra="forbid")

    param: RunParam
    jobStart: str
    jobEnd: str
    status: Literal["SUCCESSFUL", "FAILED"]
    error: str | None = None
    failed: int | None = None
    failures: list[Failure] | None = None


class StateRecord(BaseModel):
    """One profile's record; timestamps stay strings as stored, checked on load."""

    model_config = ConfigDict(extra="forbid")

    previousEndDate: str | None = None
    props: Props
    lastRun: LastRun | None = None

    @field_validator("previousEndDate")
    @classmethod
    def _timestamp(cls, value: str | None) -> str | None:
        if value is not None:
            parse_timestamp(value)
        return value

    @property
    def previous_end(self) -> datetime | None:
        return None if self.previousEndDate is None else parse_timestamp(self.previousEndDate)

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump(mode="json")
        if data["lastRun"] is not None:
            for optional in ("error", "failed", "failures"):
                if data["lastRun"][optional] is None:
                    del data["lastRun"][optional]
        return data


def parse_record(profile: str, data: object) -> StateRecord:
    """Check a stored record; ``StateFormatError`` says which profile and what is wrong."""
    try:
        return StateRecord.model_validate(data)
    except ValidationError as e:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or 'record'}: {err['msg']}"
            for err in e.errors()
        )
        raise StateFormatError(
            f"state record of profile {profile!r} is not in the expected shape ({problems}); "
            "fix or reset it (inventory-sync state reset) — it was not changed"
        ) from None


def next_record(
    previous: StateRecord | None, props: dict[str, str], summary: RunSummary, *, advance: bool
) -> StateRecord:
    """The record to save after a run: the window's end becomes ``previousEndDate`` only
    when the run succeeded and ``advance`` (the window joined the previous one)."""
    window = summary.window
    if window is None:
        raise ValueError("a run without a window leaves no record")
    succeeded = summary.status is RunStatus.SUCCESSFUL
    previous_end = previous.previousEndDate if previous is not None else None
    if succeeded and advance:
        previous_end = format_timestamp(window.end)
    elif previous_end is not None:
        previous_end = format_timestamp(parse_timestamp(previous_end))
    return StateRecord(
        previousEndDate=previous_end,
        props=Props(**props),
        lastRun=LastRun(
            param=RunParam(
                start=None if window.start is None else format_timestamp(window.start),
                end=format_timestamp(window.end),
                props=Props(**props),
            ),
            jobStart=format_timestamp(summary.started),
            jobEnd=format_timestamp(summary.finished),
            status="SUCCESSFUL" if succeeded else "FAILED",
            error=None if succeeded else summary.error,
            failed=summary.counts.failed if summary.counts.failed else None,
            failures=[Failure(sku=f.sku, code=f.code) for f in summary.failures] or None,
        ),
    )
