"""``display_key`` labels of samples (``YYMMDD-NNN``), shared by sample lists and charts."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

import sqlalchemy as sa

from openspc.extensions import db
from openspc.models import Sample
from openspc.models.sample import production_order


def display_keys(samples: Sequence[Any]) -> dict[int, str]:
    """``YYMMDD-NNN`` for each sample (anything with ``id``, ``char_id``, ``timestamp``): the
    UTC date and the 1-based position among its characteristic's samples of that day ordered
    by (timestamp, id), excluded ones counted (api.md §8).

    One query per characteristic, over the days its samples span.
    """
    by_characteristic: dict[int, list[Any]] = defaultdict(list)
    for sample in samples:
        by_characteristic[sample.char_id].append(sample)
    keys: dict[int, str] = {}
    for char_id, group in by_characteristic.items():
        days = sorted({_day(sample.timestamp) for sample in group})
        first = datetime.combine(days[0], time.min, UTC)
        last = datetime.combine(days[-1], time.min, UTC) + timedelta(days=1)
        rows = db.session.execute(
            sa.select(Sample.id, Sample.timestamp)
            .where(Sample.char_id == char_id, Sample.timestamp >= first, Sample.timestamp < last)
            .order_by(*production_order())
        ).all()
        wanted = {sample.id for sample in group}
        position: dict[date, int] = defaultdict(int)
        for row in rows:
            day = _day(row.timestamp)
            position[day] += 1
            if row.id in wanted:
                keys[row.id] = f"{day:%y%m%d}-{position[day]:03d}"
    return keys


def _day(timestamp: datetime) -> date:
    return timestamp.astimezone(UTC).date()
