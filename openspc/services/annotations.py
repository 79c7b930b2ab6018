"""Chart annotations: a note on one sample (point) or on a time range (period).

A sample carries at most one point annotation: posting another one for it updates the first
in place, as the reference does. Every text change keeps the previous text in the history.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa

from openspc.errors import BadRequest, NotFound
from openspc.extensions import db
from openspc.models import Annotation, AnnotationHistory, Characteristic, Sample
from openspc.services.transaction import transactional


def list_annotations(
    characteristic: Characteristic, annotation_type: str | None
) -> list[Annotation]:
    """Newest first (``created_at``, then id for equal times)."""
    query = sa.select(Annotation).where(Annotation.characteristic_id == characteristic.id)
    if annotation_type is not None:
        query = query.where(Annotation.annotation_type == annotation_type)
    return list(db.session.scalars(
        query.order_by(Annotation.created_at.desc(), Annotation.id.desc())
    ))


@transactional
def create_annotation(
    characteristic: Characteristic, data: Mapping[str, Any], username: str
) -> Annotation:
    """A new annotation, or the update of the sample's existing point annotation."""
    if data["annotation_type"] == "point":
        sample = db.session.get(Sample, data["sample_id"])
        if sample is None or sample.char_id != characteristic.id:
            raise BadRequest(
                f"Sample {data['sample_id']} does not belong to characteristic {characteristic.id}"
            )
        existing = db.session.scalar(
            sa.select(Annotation).where(
                Annotation.characteristic_id == characteristic.id,
                Annotation.annotation_type == "point",
                Annotation.sample_id == sample.id,
            ).order_by(Annotation.id).limit(1)
        )
        if existing is not None:
            changes = {"text": data["text"]}
            if data.get("color") is not None:
                changes["color"] = data["color"]
            _apply(existing, changes, username)
            return existing
    annotation = Annotation(characteristic_id=characteristic.id, created_by=username, **data)
    db.session.add(annotation)
    db.session.flush()
    return annotation


@transactional
def update_annotation(
    characteristic: Characteristic, annotation_id: int, data: Mapping[str, Any], username: str
) -> Annotation:
    """Apply the keys present; a changed text leaves the old one in the history."""
    annotation = _get_or_404(characteristic, annotation_id)
    _apply(annotation, data, username)
    return annotation


@transactional
def delete_annotation(characteristic: Characteristic, annotation_id: int) -> None:
    db.session.delete(_get_or_404(characteristic, annotation_id))


def _apply(annotation: Annotation, changes: Mapping[str, Any], username: str) -> None:
    if "text" in changes and changes["text"] != annotation.text:
        annotation.history.append(
            AnnotationHistory(previous_text=annotation.text, changed_by=username)
        )
        annotation.text = changes["text"]
    if "color" in changes:
        annotation.color = changes["color"]
    db.session.flush()


def _get_or_404(characteristic: Characteristic, annotation_id: int) -> Annotation:
    annotation = db.session.get(Annotation, annotation_id)
    if annotation is None or annotation.characteristic_id != characteristic.id:
        raise NotFound(
            f"Annotation {annotation_id} not found for characteristic {characteristic.id}"
        )
    return annotation
