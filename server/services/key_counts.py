"""What a rotation of ENCRYPTION_KEY finds and does, per encrypted column (or the stored files,
counted as one more column)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class ColumnKeys:
    """Which key the values of one encrypted column are under."""

    column: str  # "table.column"
    newest: int = 0
    older: int = 0
    unreadable: int = 0
    unreadable_rows: list[str] = field(default_factory=list)  # "user_id 7", the first few

    @property
    def done(self) -> bool:
        return not self.older and not self.unreadable


@dataclass
class ColumnRotation:
    """What a rotation did to one column."""

    column: str
    rotated: int = 0
    # Changed by their owner between the read and the write: left as the owner wrote them.
    changed_meanwhile: int = 0
