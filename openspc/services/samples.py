"""Sample use cases: submit (single, batch, data entry), list, read, edit, exclude, delete.

Submitting goes through :mod:`openspc.services.ingest`; the synchronous answers of
``POST /samples`` and ``/data-entry`` then wait for the evaluation, bounded by
``OPENSPC_SAMPLE_WAIT_TIMEOUT``. A sample not judged within that time (or whose
characteristic has no limits yet) is answered with ``status: "pending"``, ``zone:
"unknown"``, ``in_control: null`` and no violations; it is stored and will be judged.

Edits re-judge correctly (G-12): the edited sample and every later one are evaluated again on
their own windows (:func:`openspc.services.evaluation.reevaluate_from`), with count
validation, mode fields, the characteristic, the rule's acknowledgement setting and events.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import noload

from openspc import get_settings, metrics
from openspc.auth.current import Caller
from openspc.auth.dual import check_api_key_permission
from openspc.auth.roles import check_plant_role
from openspc.errors import ApiError, BadRequest, NotFound
from openspc.extensions import db
from openspc.models import (
    Characteristic,
    Hierarchy,
    Measurement,
    Sample,
    SampleEditHistory,
    User,
    Violation,
)
from openspc.models.sample import EVALUATED
from openspc.services import evaluation, ingest, outbox, pg_submission
from openspc.services.display_keys import display_keys
from openspc.services.ingest import SampleInput
from openspc.services.ownership import plant_of_characteristic, readable_clause
from openspc.services.transaction import transactional
from openspc.spc import ChartType

# -- results of a submission ---------------------------------------------------------------


def processing_results(sample_ids: Sequence[int], started: float) -> list[dict[str, Any]]:
    """Wait (bounded) for the samples' evaluation, then describe each verdict.

    One dict per sample with the union of the fields of SampleProcessingResult and
    DataEntryResponse, plus ``status`` (``evaluated`` or ``pending``).
    """
    evaluation.wait_for_evaluation(sample_ids, get_settings().sample_wait_timeout)
    samples = {
        s.id: s for s in db.session.execute(
            sa.select(Sample).where(Sample.id.in_(list(sample_ids)))
            .options(noload(Sample.measurements))
        ).scalars()
    }
    violations: dict[int, list[Violation]] = defaultdict(list)
    for violation in db.session.execute(
        sa.select(Violation).where(Violation.sample_id.in_(list(sample_ids)))
        .order_by(Violation.rule_id)
    ).scalars():
        violations[violation.sample_id].append(violation)
    zones = _zones([s for s in samples.values() if s.status == EVALUATED])
    elapsed = (time.perf_counter() - started) * 1000.0
    results = []
    for sample_id in sample_ids:
        sample = samples[sample_id]
        done = sample.status == EVALUATED
        results.append(_result(
            sample, sample.char_id, zones.get(sample.id, "unknown"), done,
            [(v.id, v.rule_id, v.rule_name, v.severity) for v in violations[sample.id]],
            elapsed,
        ))
    return results


def _result(sample: Any, characteristic_id: int, zone: str, done: bool,
            violations: list[tuple[int, int, str | None, str]],
            elapsed: float) -> dict[str, Any]:
    """One processing result; ``sample`` is a Sample or an evaluated point row (the same
    attribute names), ``violations`` are (id, rule_id, rule_name, severity) by rule."""
    return {
        "sample_id": sample.id,
        "characteristic_id": characteristic_id,
        "timestamp": sample.timestamp,
        "mean": sample.mean,
        "range_value": sample.range_value,
        "zone": zone,
        "in_control": not violations if done else None,
        "violations": [
            {"violation_id": violation_id, "rule_id": rule_id,
             "rule_name": rule_name or f"Rule {rule_id}", "severity": severity}
            for violation_id, rule_id, rule_name, severity in violations
        ],
        "processing_time_ms": elapsed,
        "status": "evaluated" if done else "pending",
        "count": sample.defect_count,
        "sample_size": sample.sample_size,
    }


def _submission_result(item: SampleInput, started: float,
                       check_plant: ingest.PlantCheck | None = None) -> dict[str, Any]:
    """Store and judge one sample, then answer its verdict: from what this request's
    evaluation computed when it judged the sample itself, else read back after waiting."""
    sample_id, verdict = ingest.submit_sample(item, check_plant)
    if verdict is None:
        return processing_results([sample_id], started)[0]
    return _verdict_result(item, verdict, started)


def _verdict_result(item: SampleInput, verdict: evaluation.Verdict,
                    started: float) -> dict[str, Any]:
    violations = sorted(
        ((v["id"], v["rule_id"], v["rule_name"], v["severity"]) for v in verdict.violations),
        key=lambda violation: violation[1],
    )
    return _result(verdict.row, item.characteristic_id, verdict.zone, True, violations,
                   (time.perf_counter() - started) * 1000.0)


def _zones(samples: list[Sample]) -> dict[int, str]:
    by_characteristic: dict[int, list[Sample]] = defaultdict(list)
    for sample in samples:
        if not sample.is_excluded:
            by_characteristic[sample.char_id].append(sample)
    zones: dict[int, str] = {}
    for characteristic_id, group in by_characteristic.items():
        characteristic = db.session.get(Characteristic, characteristic_id)
        zones.update(zip((s.id for s in group), evaluation.zones_of(characteristic, group),
                         strict=True))
    return zones


def create_sample(user: User, item: SampleInput) -> dict[str, Any]:
    """``POST /samples``: 404, then operator at the characteristic's plant (403), then the
    values; store, judge, answer. The plant comes with the characteristic's lock."""
    result = _submission_result(item, time.perf_counter(),
                                lambda plant_id: check_plant_role(user, plant_id, "operator"))
    metrics.count_ingested("rest", 1)
    return result


def create_sample_direct(user_id: int, token_version: int,
                         item: SampleInput) -> dict[str, Any] | None:
    """``POST /samples`` through :mod:`pg_submission` (PostgreSQL, the common case, no ORM);
    None when :func:`create_sample` must answer instead."""
    started = time.perf_counter()
    verdict = pg_submission.submit(user_id, token_version, item, get_settings().dev_mode)
    if verdict is None:
        return None
    metrics.count_ingested("rest", 1)
    return _verdict_result(item, verdict, started)


def import_batch(items: Sequence[SampleInput | ApiError], evaluate: bool) -> dict[str, Any]:
    """``POST /samples/batch``: valid items commit together, each failed item is reported as
    ``Sample {i+1}: {message}`` and writes nothing (G-18). Does not wait for evaluation."""
    valid = [(index, item) for index, item in enumerate(items) if isinstance(item, SampleInput)]
    outcomes: dict[int, int | ApiError] = {
        index: item for index, item in enumerate(items) if isinstance(item, ApiError)
    }
    stored = ingest.submit_samples([item for _, item in valid], evaluate=evaluate)
    outcomes.update(zip((index for index, _ in valid), stored, strict=True))
    errors = [
        f"Sample {index + 1}: {ingest.error_text(outcome)}"
        for index, outcome in sorted(outcomes.items()) if isinstance(outcome, ApiError)
    ]
    metrics.count_ingested("rest_batch", len(items) - len(errors))
    return {"total": len(items), "imported": len(items) - len(errors), "failed": len(errors),
            "errors": errors}


# -- data entry (user or API key) ----------------------------------------------------------


def _entry_allowed(caller: Caller, characteristic_id: int) -> None:
    """The data-entry permission check: the key's characteristic scope, or for a user
    operator at the characteristic's plant (the reference checked no role at all; we do not
    let a user without a role at a plant write into it). 400 ``Invalid input`` for an
    unknown characteristic, as the reference answers."""
    try:
        plant_id = plant_of_characteristic(characteristic_id)
    except NotFound:
        raise BadRequest("Invalid input: characteristic not found") from None
    check_api_key_permission(caller.api_key, characteristic_id)
    if caller.user is not None:
        check_plant_role(caller.user, plant_id, "operator")


def _entry_refusal(caller: Caller, characteristic_id: int) -> str | None:
    """Why a batch item for this characteristic is refused (None: allowed)."""
    try:
        _entry_allowed(caller, characteristic_id)
    except ApiError as error:
        if caller.api_key is not None and error.status == 403:
            return f"No permission for characteristic {characteristic_id}"
        return ingest.error_text(error)
    return None


def submit_entry(caller: Caller, item: SampleInput) -> dict[str, Any]:
    """``POST /data-entry/submit``: as ``POST /samples``, authenticated by user or key."""
    started = time.perf_counter()
    _entry_allowed(caller, item.characteristic_id)
    result = _submission_result(item, started)
    metrics.count_ingested("data_entry", 1)
    return result


def submit_entries(caller: Caller, items: Sequence[SampleInput]) -> dict[str, Any]:
    """``POST /data-entry/batch``: items may target several characteristics; one
    transaction, one evaluation per characteristic; per-item errors ``Sample {i}: ...``
    (0-based, as the reference), nothing written for a failed item."""
    started = time.perf_counter()
    errors: dict[int, str] = {}
    allowed: list[tuple[int, SampleInput]] = []
    refusals: dict[int, str | None] = {}  # per characteristic: checked once per batch
    for index, item in enumerate(items):
        if item.characteristic_id not in refusals:
            refusals[item.characteristic_id] = _entry_refusal(caller, item.characteristic_id)
        refusal = refusals[item.characteristic_id]
        if refusal is None:
            allowed.append((index, item))
        else:
            errors[index] = refusal
    stored = ingest.submit_samples([item for _, item in allowed])
    sample_ids = []
    for (index, _), outcome in zip(allowed, stored, strict=True):
        if isinstance(outcome, ApiError):
            errors[index] = ingest.error_text(outcome)
        else:
            sample_ids.append(outcome)
    metrics.count_ingested("data_entry_batch", len(sample_ids))
    results = processing_results(sample_ids, started) if sample_ids else []
    return {
        "total": len(items),
        "successful": len(results),
        "failed": len(errors),
        "results": results,
        "errors": [f"Sample {index}: {message}" for index, message in sorted(errors.items())],
    }


# -- reading -------------------------------------------------------------------------------


def _authorized_sample(user: User, sample_id: int, role: str) -> Sample:
    sample = db.session.get(Sample, sample_id)
    if sample is None:
        raise NotFound(f"Sample {sample_id} not found")
    check_plant_role(user, plant_of_characteristic(sample.char_id), role)
    return sample


def describe_samples(samples: Sequence[Sample]) -> list[dict[str, Any]]:
    """SampleResponse payloads with every stored field (api.md §8: ours fills the fields the
    reference left at their defaults), plus ``status``, ``count`` and ``sample_size``."""
    ids = [s.id for s in samples]
    edits = dict(db.session.execute(
        sa.select(SampleEditHistory.sample_id, sa.func.count())
        .where(SampleEditHistory.sample_id.in_(ids)).group_by(SampleEditHistory.sample_id)
    ).all()) if ids else {}
    keys = display_keys(samples)
    return [
        {
            "id": s.id, "char_id": s.char_id, "characteristic_id": s.char_id,
            "timestamp": s.timestamp, "batch_number": s.batch_number,
            "operator_id": s.operator_id, "is_excluded": s.is_excluded,
            "excluded": s.is_excluded, "measurements": [m.value for m in s.measurements],
            "mean": s.mean, "range_value": s.range_value, "actual_n": s.actual_n,
            "is_undersized": s.is_undersized, "effective_ucl": s.effective_ucl,
            "effective_lcl": s.effective_lcl, "z_score": s.z_score,
            "is_modified": s.is_modified, "edit_count": edits.get(s.id, 0),
            "display_key": keys[s.id], "status": s.status, "sequence": s.sequence,
            "count": s.defect_count, "sample_size": s.sample_size,
        }
        for s in samples
    ]


def list_samples(user: User, query: dict[str, Any]) -> dict[str, Any]:
    """``GET /samples``: filtered, sorted by timestamp (id breaks ties, G-21), paginated,
    limited to the plants the user may read. An unknown characteristic gives an empty page."""
    conditions: list[sa.ColumnElement[bool]] = []
    if query.get("characteristic_id") is not None:
        conditions.append(Sample.char_id == query["characteristic_id"])
    if query.get("start_date") is not None:
        conditions.append(Sample.timestamp >= query["start_date"])
    if query.get("end_date") is not None:
        conditions.append(Sample.timestamp <= query["end_date"])
    if not query.get("include_excluded"):
        conditions.append(Sample.is_excluded.is_(False))
    readable = readable_clause(user, Hierarchy.plant_id)
    if readable is not None:
        conditions.append(readable)
    base = (
        sa.select(Sample)
        .join(Characteristic, Characteristic.id == Sample.char_id)
        .join(Hierarchy, Hierarchy.id == Characteristic.hierarchy_id)
        .where(*conditions)
    )
    total = db.session.scalar(sa.select(sa.func.count()).select_from(base.subquery()))
    if query["sort_dir"] == "asc":
        order = (Sample.timestamp.asc(), Sample.id.asc())
    else:
        order = (Sample.timestamp.desc(), Sample.id.desc())
    samples = db.session.execute(
        base.order_by(*order).offset(query["offset"]).limit(query["limit"])
    ).scalars().all()
    return {"items": describe_samples(samples), "total": total, "offset": query["offset"],
            "limit": query["limit"]}


def get_sample(user: User, sample_id: int) -> dict[str, Any]:
    return describe_samples([_authorized_sample(user, sample_id, "operator")])[0]


def sample_history(user: User, sample_id: int) -> list[SampleEditHistory]:
    """Edit history, newest first."""
    _authorized_sample(user, sample_id, "operator")
    return list(db.session.execute(
        sa.select(SampleEditHistory).where(SampleEditHistory.sample_id == sample_id)
        .order_by(SampleEditHistory.edited_at.desc(), SampleEditHistory.id.desc())
    ).scalars())


# -- changing ------------------------------------------------------------------------------


def edit_sample(user: User, sample_id: int, data: dict[str, Any]) -> dict[str, Any]:
    """``PUT /samples/{id}``: replace the values, record the history, re-judge; answers the
    edited sample's SampleProcessingResult. New violations are pushed; no ``sample`` frame
    (as the reference)."""
    started = time.perf_counter()
    _edit(user, sample_id, data)
    outbox.publish_soon()
    return processing_results([sample_id], started)[0]


@transactional
def _edit(user: User, sample_id: int, data: dict[str, Any]) -> None:
    sample = _authorized_sample(user, sample_id, "supervisor")
    characteristic = evaluation.lock_characteristic(sample.char_id)
    np_size = None
    if characteristic.chart_type == ChartType.NP.value:
        np_size = ingest.np_sample_size(characteristic.id)
    values = ingest.subgroup_values(
        characteristic, data.get("measurements"), data.get("count"), data.get("sample_size"),
        np_size,
    )
    db.session.add(SampleEditHistory(
        sample_id=sample.id, edited_by=user.username, reason=data["reason"],
        previous_values=[m.value for m in sample.measurements], new_values=values.measurements,
        previous_mean=sample.mean, new_mean=values.mean,
    ))
    sample.measurements = [Measurement(value=value) for value in values.measurements]
    sample.mean, sample.range_value, sample.std_dev = (
        values.mean, values.range_value, values.std_dev
    )
    sample.actual_n, sample.is_undersized = values.actual_n, values.is_undersized
    sample.defect_count, sample.sample_size = values.count, values.sample_size
    sample.is_modified = True
    db.session.flush()
    if sample.status == EVALUATED and sample.sequence is not None and not sample.is_excluded:
        evaluation.reevaluate_from(characteristic, (sample.timestamp, sample.sequence))


def exclude_sample(user: User, sample_id: int, is_excluded: bool) -> dict[str, Any]:
    """``PATCH /samples/{id}/exclude``: flip the flag. Past verdicts stay (C11); the
    evaluator's window is rebuilt so later samples are judged without (or with) it."""
    _exclude(user, sample_id, is_excluded)
    return describe_samples([db.session.get(Sample, sample_id)])[0]


@transactional
def _exclude(user: User, sample_id: int, is_excluded: bool) -> None:
    sample = _authorized_sample(user, sample_id, "supervisor")
    characteristic = evaluation.lock_characteristic(sample.char_id)
    sample.is_excluded = is_excluded
    characteristic.eval_state = None


@transactional
def delete_sample(user: User, sample_id: int) -> None:
    """``DELETE /samples/{id}``: measurements, violations and history cascade; the
    evaluator's window is rebuilt without the sample."""
    sample = _authorized_sample(user, sample_id, "supervisor")
    characteristic = evaluation.lock_characteristic(sample.char_id)
    db.session.delete(sample)
    characteristic.eval_state = None


def authorize_submission(user: User, characteristic_id: int) -> None:
    """``POST /samples/batch``: 404, then operator at the plant (403). One query for the
    plant id: the characteristic itself is loaded when the items are validated."""
    check_plant_role(user, plant_of_characteristic(characteristic_id), "operator")
