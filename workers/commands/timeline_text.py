"""A case timeline as lines of text for a terminal (`jieya replay`)."""

from __future__ import annotations

from models.timeline import EntryKind, Timeline, TimelineEntry


def duration(seconds: float | None) -> str:
    if seconds is None:
        return ""
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(int(round(seconds)), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    days, hours = divmod(hours, 24)
    return f"{days}d{hours:02d}h"


def _describe(entry: TimelineEntry) -> str:
    parts = [entry.what]
    if entry.actor and entry.actor != "system":
        parts.append(f"by {entry.actor}")
    if entry.comment:
        parts.append(f"“{entry.comment}”")
    if entry.attempts and entry.attempts > 1:
        parts.append(f"{entry.attempts} attempts ({entry.attempts - 1} retries)")
    if entry.took_s is not None and entry.took_s >= 1:
        parts.append(f"took {duration(entry.took_s)}")
    if entry.step_duration_s is not None:
        parts.append(f"in step {duration(entry.step_duration_s)}")
    if entry.failure:
        parts.append(f"FAILED: {entry.failure}")
    text = " · ".join(parts)
    if entry.audit_seq is not None:
        text += f"  [audit #{entry.audit_seq} {entry.audit_hash[:12]}]"
    return text


def render_timeline(case_id: str, timeline: Timeline) -> list[str]:
    if timeline.outcome is None:
        header = f"{case_id}: no history left; the audit trail alone"
    else:
        header = (
            f"{case_id} · {timeline.workflow_type} · {timeline.outcome}"
            + (f" → {timeline.status}" if timeline.status else "")
            + f" · {timeline.history_events} events · {timeline.activity_retries} activity retries"
        )
    lines = [header, f"{'time (UTC)':<23} {'+prev':>7}  {'kind':<8}  what"]
    for entry in timeline.entries:
        at = entry.at.strftime("%Y-%m-%d %H:%M:%S.%f")[:23]
        since = f"+{duration(entry.since_previous_s)}" if entry.since_previous_s is not None else ""
        marker = "*" if entry.kind == EntryKind.AUDIT else " "
        lines.append(f"{at} {since:>7} {marker}{entry.kind.value:<8}  {_describe(entry)}")
    if any(e.kind == EntryKind.AUDIT for e in timeline.entries):
        lines.append("* audit record with no matching history event (written outside the workflow)")
    return lines
