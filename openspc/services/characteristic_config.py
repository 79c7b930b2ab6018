"""A characteristic's collection config (manual schedule or tag trigger), stored as JSON.

The config is stored and served; nothing acts on it yet (the reference's gap G-22: due-task
scheduling is not implemented there either).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from openspc.errors import BadRequest, NotFound
from openspc.extensions import db
from openspc.models import Characteristic, CharacteristicConfig, DataSource
from openspc.services.transaction import transactional


def get_config(characteristic: Characteristic) -> dict[str, Any] | None:
    """The CharacteristicConfigResponse payload, or None when no config is stored."""
    row = _row(characteristic.id)
    return None if row is None else _payload(row)


@transactional
def put_config(characteristic: Characteristic, config: Mapping[str, Any]) -> dict[str, Any]:
    """Upsert the config; its kind must match how the characteristic gets its data.

    Decimals are stored as their strings (exact, and the form the API emits).
    """
    has_source = db.session.scalar(
        sa.select(sa.func.count()).select_from(DataSource)
        .where(DataSource.characteristic_id == characteristic.id)
    )
    if not has_source and config["config_type"] != "MANUAL":
        raise BadRequest("Manual characteristic requires ManualConfig")
    if has_source and config["config_type"] != "TAG":
        raise BadRequest("Data source characteristic requires TagConfig")
    row = _row(characteristic.id)
    if row is None:
        row = CharacteristicConfig(characteristic_id=characteristic.id, is_active=True)
        db.session.add(row)
    row.config_json = json.dumps(config, default=str)
    db.session.flush()
    return _payload(row)


@transactional
def delete_config(characteristic: Characteristic) -> None:
    row = _row(characteristic.id)
    if row is None:
        raise NotFound(f"Config for characteristic {characteristic.id} not found")
    db.session.delete(row)


def _row(char_id: int) -> CharacteristicConfig | None:
    return db.session.scalar(
        sa.select(CharacteristicConfig).where(CharacteristicConfig.characteristic_id == char_id)
    )


def _payload(row: CharacteristicConfig) -> dict[str, Any]:
    return {
        "characteristic_id": row.characteristic_id,
        "config": json.loads(row.config_json),
        "is_active": row.is_active,
    }
