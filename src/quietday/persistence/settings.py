"""The `setting` rows: small documents the service keeps (caps, the publish lock, generations)."""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from quietday.persistence.base import Repository
from quietday.persistence.tables import (
    SettingRow,
)

__all__ = ["SettingRepository"]


class SettingRepository(Repository[SettingRow]):
    model = SettingRow
    label = "设置"

    def value(self, key: str) -> dict[str, Any]:
        row = self.get(key)
        return dict(row.value) if row is not None else {}

    def bump(self, key: str) -> None:
        """Count one more change under `key` (a generation number others compare)."""
        self.put(key, {"n": int(self.value(key).get("n", 0)) + 1})

    def put_if_absent(self, key: str, value: dict[str, Any]) -> dict[str, Any]:
        """Store `value` under `key` unless a value is there already (another process may
        store one at the same moment: the first to commit wins); the value that holds."""
        existing = self.get(key)
        if existing is not None:
            return dict(existing.value)
        try:
            with self.session.begin_nested():
                self.session.add(SettingRow(key=key, value=value))
        except sa.exc.IntegrityError:
            return self.value(key)
        return value

    def put(self, key: str, value: dict[str, Any]) -> None:
        row = self.get(key)
        if row is None:
            self.add(SettingRow(key=key, value=value))
        else:
            row.value = value
            self.session.add(row)
            self.session.flush()
