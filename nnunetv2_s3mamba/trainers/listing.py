"""The registry as users read it: `s3mamba trainers [PATTERN]` and the README's trainer table.

Without a pattern the `<row>_<N>epochs` names are one line (the rule); a pattern lists every name it matches,
those included, so that `s3mamba trainers '*_15epochs'` shows one budget across all rows.
"""
from __future__ import annotations

import fnmatch

from nnunetv2_s3mamba.trainers.registry import (EPOCH_VARIANT_ROWS, GROUPS, NAMED_ROWS, SCHEDULE_EPOCHS, TRAINERS,
                                                TrainerRow)

EPOCH_RULE_NAME = "<row>_<N>epochs"


def matching_rows(pattern: str) -> list[TrainerRow]:
    """Rows whose name matches `pattern` (fnmatch, as timm's `list_models`; without wildcards: a substring)."""
    if not any(char in pattern for char in "*?["):
        pattern = f"*{pattern}*"
    return [row for name, row in TRAINERS.items() if fnmatch.fnmatchcase(name, pattern)]


def row_changes(row: TrainerRow) -> str:
    """What the row changes: its bases, then the class attributes it sets."""
    settings = ", ".join(f"{key}={value!r}" for key, value in row.changes.items())
    return " + ".join(row.bases) + (f": {settings}" if settings else "")


def epoch_rule() -> tuple[str, str, str]:
    """The `<row>_<N>epochs` rule as (name, changes, description)."""
    groups = ", ".join(group for group, spec in GROUPS.items() if spec.epoch_variants)
    return (EPOCH_RULE_NAME, f"<row>: epochs=N, N in {', '.join(map(str, SCHEDULE_EPOCHS))}",
            f"every row of the groups {groups} for N epochs ({len(EPOCH_VARIANT_ROWS)} names)")


def format_listing(pattern: str | None = None) -> str:
    """Text for `s3mamba trainers`: one line per trainer (name, changes, description), by group."""
    rows = list(NAMED_ROWS) if pattern is None else matching_rows(pattern)
    lines = []
    for group, spec in GROUPS.items():
        entries = [(row.name, row_changes(row), row.description) for row in rows if row.group == group]
        if pattern is None and group == "training_length":
            entries.append(epoch_rule())
        if entries:
            lines.append(f"{group} ({spec.module}): {spec.varies}")
            name_width = max(len(name) for name, _, _ in entries)
            lines += [f"  {name:<{name_width}}  {description}\n  {'':<{name_width}}  [{changes}]"
                      for name, changes, description in entries]
    return "\n".join(lines)


def markdown_table() -> str:
    """The README's trainer table (tests/trainers/test_trainer_docs.py keeps the README equal to it)."""
    lines = ["| group | name | based on: changes | what |", "|---|---|---|---|"]
    for group in GROUPS:
        entries = [(row.name, row_changes(row), row.description) for row in NAMED_ROWS if row.group == group]
        if group == "training_length":
            entries.insert(0, epoch_rule())
        lines += [f"| {group} | `{name}` | `{changes}` | {description} |" for name, changes, description in entries]
    return "\n".join(lines)
