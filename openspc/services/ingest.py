"""The one ingest path for every source: REST (single, batch, data entry), MQTT and OPC-UA.

Ingest validates, then writes samples and their measurements with status ``pending`` in one
transaction. Nothing is judged by the writer itself: the evaluator assigns the arrival order
under the characteristic's lock, so concurrent writers never race on it.

Who evaluates (a deliberate departure from design.md's "enqueue, then wait"): a single
submission (``POST /samples``, ``/data-entry/submit``), whose caller waits for the verdict,
takes the characteristic's lock *first*, inserts the sample and evaluates everything pending
of that characteristic in the same transaction: one durable commit, no Celery hop, no wait
for a notification. The web process judges what it must answer synchronously; workers judge
everything else (batches, listeners, sweeps). When the lock stays busy longer than
``LOCK_WAIT_SECONDS`` (a worker evaluating a large backlog) the submission falls back to the
worker path: store, commit, enqueue, and the caller waits as before. Either way the sample
is evaluated under the same lock, in the order the lock imposes, exactly once.

Batches are one transaction and one enqueued evaluation per characteristic (design.md,
"The sample path", step 1). A batch never commits a failed item (G-18): every item is
validated before anything is written, the valid ones go in as one transaction, and each
failed item is reported with its own error. Within a batch the rows are inserted in the
order of their timestamps, so the evaluator (which takes pending samples by id) evaluates a
back-filled batch chronologically.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
import structlog
from sqlalchemy.exc import OperationalError

from openspc.dbadmin.engine import lock_timed_out
from openspc.errors import ApiError, BadRequest, NotFound, ValidationFailed
from openspc.extensions import db
from openspc.models import Characteristic, Measurement, Sample
from openspc.models.sample import PENDING
from openspc.models.types import utcnow
from openspc.services.bulk import insert_returning_ids, insert_rows
from openspc.services.ownership import get_characteristic_or_404, plant_of_characteristic
from openspc.services.transaction import transactional
from openspc.spc import ChartType, SPCError, SubgroupMode, is_undersized, validate_subgroup_size
from openspc.spc.variables import whole_or_real

if TYPE_CHECKING:
    from openspc.services.evaluation import Evaluation, PointRow, Verdict

log = structlog.get_logger(__name__)

SKIPPED = "skipped"
"""Status of samples imported with ``skip_rule_evaluation``: stored, never evaluated."""

MAX_CLOCK_SKEW = timedelta(minutes=5)
"""A client timestamp may lead the server clock by this much; further ahead is refused."""

LOCK_WAIT_SECONDS = 0.25
"""How long a single submission waits for its characteristic's lock before it hands the
evaluation to a worker (PostgreSQL; elsewhere the holder's chunk bounds the wait)."""


@dataclass(frozen=True)
class SampleInput:
    """One subgroup as a source delivers it. Variables charts carry ``measurements``;
    attribute charts (p, np, c, u) carry ``count`` and ``sample_size`` (api.md §X.1)."""

    characteristic_id: int
    measurements: Sequence[float] | None = None
    count: int | None = None
    sample_size: float | None = None
    timestamp: datetime | None = None
    batch_number: str | None = None
    operator_id: str | None = None


@dataclass(frozen=True)
class SubgroupValues:
    """The validated values of one sample and the statistics cached on its row."""

    measurements: list[float]
    mean: float
    range_value: float | None
    std_dev: float | None
    actual_n: int
    is_undersized: bool
    count: int | None = None
    sample_size: float | None = None


@dataclass(frozen=True, slots=True)
class SubgroupRules:
    """What a characteristic checks each subgroup against, with the attribute names of the
    model, read once for a batch: on 1,000 items, reading them off the ORM instance and
    converting the enums each time took about a third of the validation's CPU (5.8 → 4.0 ms)."""

    chart_type: ChartType
    subgroup_size: int
    subgroup_mode: SubgroupMode
    min_measurements: int
    warn_below_count: int | None

    @classmethod
    def of(cls, characteristic: Characteristic) -> SubgroupRules:
        return cls(ChartType(characteristic.chart_type), characteristic.subgroup_size,
                   SubgroupMode(characteristic.subgroup_mode),
                   characteristic.min_measurements or 1, characteristic.warn_below_count)


def _missing(field: str) -> ValidationFailed:
    return ValidationFailed(
        [{"type": "missing", "loc": ["body", field], "msg": "Field required", "input": None}]
    )


def _invalid(field: str, message: str, value: object) -> ValidationFailed:
    return ValidationFailed(
        [{"type": "value_error", "loc": ["body", field], "msg": f"Value error, {message}",
          "input": value}]
    )


def subgroup_values(
    characteristic: Characteristic | SubgroupRules,
    measurements: Sequence[float] | None,
    count: int | None = None,
    sample_size: float | None = None,
    np_size: float | None = None,
) -> SubgroupValues:
    """Validate one sample's values against its characteristic and compute its statistics.

    Variables charts: the measurement count per subgroup mode (engine.md §5.1), finite
    numbers; 400 ``Invalid input: ...`` for a count the mode refuses, as the reference
    answers 400 there (with its message kept, G-20). Attribute charts: ``count`` and
    ``sample_size`` rules of api.md §X.1 (422 naming the field). ``np_size`` is the sample
    size an np chart is fixed to (the size of its first sample), None for a new chart.
    """
    chart = ChartType(characteristic.chart_type)
    if chart.is_attribute:
        return _attribute_values(chart, measurements, count, sample_size, np_size)
    if measurements is None:
        raise _missing("measurements")
    values = list(map(float, measurements))
    if not all(map(math.isfinite, values)):
        bad = next(i for i, v in enumerate(values) if not math.isfinite(v))
        raise _invalid("measurements", f"measurement {bad} is not a finite number",
                       list(measurements))
    try:
        validate_subgroup_size(
            len(values), characteristic.subgroup_size,
            SubgroupMode(characteristic.subgroup_mode), characteristic.min_measurements or 1,
        )
    except SPCError as error:
        raise BadRequest(f"Invalid input: {error}") from None
    n = len(values)
    mean, range_value, std_dev = _statistics(values)
    return SubgroupValues(
        measurements=values,
        mean=mean,
        range_value=range_value,
        std_dev=std_dev,
        actual_n=n,
        is_undersized=is_undersized(
            n, characteristic.subgroup_size, characteristic.warn_below_count
        ),
    )


def _statistics(values: list[float]) -> tuple[float, float | None, float | None]:
    """Mean, range and standard deviation of finite measurements. Each must be a finite
    double, or no chart, limit or rule could use the sample (and one such row stalled its
    characteristic's evaluation): a subgroup whose statistics overflow is refused."""
    n = len(values)
    try:
        mean = sum(values) / n
        range_value = max(values) - min(values) if n > 1 else None
        std_dev = (math.sqrt(sum([(v - mean) ** 2 for v in values]) / (n - 1))
                   if n > 1 else None)
        finite = all(math.isfinite(x) for x in (mean, range_value or 0.0, std_dev or 0.0))
    except OverflowError:
        finite = False
    if not finite:
        raise _invalid("measurements", "the subgroup's mean, range or standard deviation "
                       "overflows a double", values)
    return mean, range_value, std_dev


def _attribute_values(
    chart: ChartType,
    measurements: Sequence[float] | None,
    count: int | None,
    sample_size: float | None,
    np_size: float | None,
) -> SubgroupValues:
    if measurements is not None:
        raise _invalid(
            "measurements", f"measurements must be absent for a {chart.value} chart: "
            "send count and sample_size", list(measurements),
        )
    if count is None:
        raise _missing("count")
    if sample_size is None:
        if chart != ChartType.C:
            raise _missing("sample_size")
        sample_size = 1
    if count < 0:
        raise _invalid("count", "count must be >= 0", count)
    if chart == ChartType.U:
        if not sample_size > 0:
            raise _invalid("sample_size", "sample_size (inspection units) must be > 0",
                           sample_size)
    elif not float(sample_size).is_integer():
        raise _invalid("sample_size", f"sample_size must be a whole number of units for a "
                       f"{chart.value} chart", sample_size)
    elif sample_size < 1:
        raise _invalid("sample_size", "sample_size must be >= 1", sample_size)
    sample_size = whole_or_real(sample_size)
    if chart in (ChartType.P, ChartType.NP) and count > sample_size:
        raise _invalid("count", f"count ({count}) cannot exceed sample_size ({sample_size})",
                       count)
    if chart == ChartType.NP and np_size is not None and sample_size != np_size:
        raise _invalid(
            "sample_size", f"an np chart needs a constant sample size: expected {np_size}",
            sample_size,
        )
    value = count / sample_size if chart in (ChartType.P, ChartType.U) else float(count)
    return SubgroupValues(
        measurements=[], mean=value, range_value=None, std_dev=None, actual_n=1,
        is_undersized=False, count=count, sample_size=sample_size,
    )


def np_sample_size(characteristic_id: int) -> int | None:
    """The sample size an np chart is fixed to: that of its first sample (None if none)."""
    size = db.session.execute(
        sa.select(Sample.sample_size)
        .where(Sample.char_id == characteristic_id, Sample.sample_size.is_not(None))
        .order_by(Sample.id)
        .limit(1)
    ).scalar()
    return None if size is None else int(size)


def checked_timestamp(timestamp: datetime | None, now: datetime) -> datetime:
    if timestamp is None:
        return now
    if timestamp.tzinfo is None:
        timestamp = timestamp.replace(tzinfo=UTC)
    if timestamp > now + MAX_CLOCK_SKEW:
        raise _invalid("timestamp", "timestamp is more than 5 minutes in the future",
                       timestamp.isoformat())
    return timestamp


def error_text(error: ApiError) -> str:
    """One line for a per-item error of a batch: the detail, or ``field: msg`` items."""
    if isinstance(error.detail, list):
        return "; ".join(
            ".".join(str(part) for part in item["loc"][1:]) + ": " + item["msg"]
            for item in error.detail
        )
    return str(error.detail)


@dataclass
class _Row:
    index: int
    characteristic_id: int
    timestamp: datetime
    values: SubgroupValues
    item: SampleInput


class _Characteristics:
    """Characteristics of one batch, each loaded once, with the np size rule's state."""

    def __init__(self) -> None:
        self._rules: dict[int, SubgroupRules] = {}
        self._np_sizes: dict[int, int | None] = {}

    def values(self, item: SampleInput) -> SubgroupValues:
        rules = self._rules.get(item.characteristic_id)
        if rules is None:
            rules = self._rules[item.characteristic_id] = SubgroupRules.of(
                get_characteristic_or_404(item.characteristic_id))
        np_size = None
        if rules.chart_type is ChartType.NP:
            if item.characteristic_id not in self._np_sizes:
                self._np_sizes[item.characteristic_id] = np_sample_size(item.characteristic_id)
            np_size = self._np_sizes[item.characteristic_id]
        values = subgroup_values(rules, item.measurements, item.count, item.sample_size, np_size)
        if rules.chart_type is ChartType.NP and np_size is None:
            self._np_sizes[item.characteristic_id] = values.sample_size
        return values


PlantCheck = Callable[[int | None], None]
"""The caller's permission check on the characteristic's plant: raises to refuse."""


def submit_sample(item: SampleInput,
                  check_plant: PlantCheck | None = None) -> tuple[int, Verdict | None]:
    """Store one sample and evaluate it in the same transaction; returns its id and, when
    this request judged it, its verdict (None: a worker will, or nothing can yet).

    The characteristic's lock is taken before the insert, so the sample and every sample
    still pending before it are judged in arrival order and committed once, with their
    events (published after the commit). A backlog larger than one evaluation chunk is
    left to a worker, as is everything when the lock stays busy (see the module docstring).
    ``check_plant`` is called with the owning plant once the characteristic is found (the
    lock reads it); None when the caller has checked already. Raises NotFound, Forbidden,
    BadRequest or ValidationFailed with nothing written.
    """
    from openspc.services import evaluation  # evaluation builds on this module's helpers
    from openspc.tasks.evaluation import enqueue_evaluation

    try:
        sample_id, evaluated = _store_and_evaluate(item, check_plant)
    except OperationalError as error:
        if not lock_timed_out(error):
            raise
        log.info("sample_lock_busy", characteristic_id=item.characteristic_id)
        if check_plant is not None:
            check_plant(plant_of_characteristic(item.characteristic_id))
        outcome = submit_samples([item])[0]
        if isinstance(outcome, ApiError):
            raise outcome from None
        return outcome, None
    verdicts = evaluated.verdicts
    # Only a request whose sample was stored by the worker path waits for a notification:
    # this one answers from its own verdict.
    evaluation.after_commit(item.characteristic_id,
                            [v.sample_id for v in verdicts if v.sample_id != sample_id],
                            evaluated.events)
    if len(verdicts) == evaluation.CHUNK:
        enqueue_evaluation([item.characteristic_id])
    return sample_id, next((v for v in verdicts if v.sample_id == sample_id), None)


@transactional
def _store_and_evaluate(item: SampleInput,
                        check_plant: PlantCheck | None) -> tuple[int, Evaluation]:
    from openspc.services import evaluation

    locked = evaluation.lock_for_submission(item.characteristic_id, wait=LOCK_WAIT_SECONDS)
    if locked is None:
        raise NotFound(f"Characteristic {item.characteristic_id} not found")
    characteristic, plant_id, backlog = locked
    if check_plant is not None:
        check_plant(plant_id)
    now = utcnow()
    values = _Characteristics().values(item)
    row = _Row(0, item.characteristic_id, checked_timestamp(item.timestamp, now), values, item)
    [sample_id] = _insert([row], now, PENDING)
    pending = None if backlog else [point_row(sample_id, row.timestamp, values)]
    return sample_id, evaluation.evaluate_locked(characteristic, pending)


def submit_samples(
    items: Sequence[SampleInput], *, evaluate: bool = True
) -> list[int | ApiError]:
    """Store many samples in one transaction; per item its new id or its error.

    Failed items write nothing; valid ones commit together and each characteristic gets one
    evaluation task after commit. With ``evaluate=False`` (``skip_rule_evaluation``) the
    samples are stored as ``skipped``: never evaluated, never pushed.
    """
    outcomes: list[int | ApiError] = [BadRequest("Invalid input")] * len(items)
    rows: list[_Row] = []
    characteristics = _Characteristics()
    now = utcnow()
    for index, item in enumerate(items):
        try:
            values = characteristics.values(item)
            timestamp = checked_timestamp(item.timestamp, now)
        except ApiError as error:
            outcomes[index] = error
            continue
        rows.append(_Row(index, item.characteristic_id, timestamp, values, item))
    if rows:
        ids = _write(rows, now, PENDING if evaluate else SKIPPED)
        for row, sample_id in zip(rows, ids, strict=True):
            outcomes[row.index] = sample_id
        if evaluate:
            from openspc.tasks.evaluation import enqueue_evaluation

            enqueue_evaluation({row.characteristic_id for row in rows})
    return outcomes


def sample_columns(item: SampleInput, values: SubgroupValues, timestamp: datetime,
                   now: datetime, status: str) -> dict[str, object]:
    """A new sample row's columns, as every writer inserts them."""
    return {
        "char_id": item.characteristic_id,
        "timestamp": timestamp,
        "batch_number": item.batch_number,
        "operator_id": item.operator_id,
        "is_excluded": False,
        "actual_n": values.actual_n,
        "is_undersized": values.is_undersized,
        "is_modified": False,
        "mean": values.mean,
        "range_value": values.range_value,
        "std_dev": values.std_dev,
        "defect_count": values.count,
        "sample_size": values.sample_size,
        "status": status,
        "received_at": now,
    }


def point_row(sample_id: int, timestamp: datetime, values: SubgroupValues) -> PointRow:
    """A new sample as the evaluator reads it, for a writer that judges it without reading
    it back."""
    from openspc.services.evaluation import PointRow

    return PointRow(
        id=sample_id, timestamp=timestamp.astimezone(UTC), mean=values.mean,
        actual_n=values.actual_n, defect_count=values.count, sample_size=values.sample_size,
        is_excluded=False, range_value=values.range_value,
    )


def _insert(rows: list[_Row], now: datetime, status: str) -> list[int]:
    """Bulk-insert samples (in timestamp order) and their measurements; ids in ``rows`` order."""
    ordered = sorted(rows, key=lambda row: (row.timestamp, row.index))
    sample_ids = insert_returning_ids(Sample, [
        sample_columns(row.item, row.values, row.timestamp, now, status) for row in ordered
    ])
    insert_rows(Measurement, [
        {"sample_id": sample_id, "value": value}
        for row, sample_id in zip(ordered, sample_ids, strict=True)
        for value in row.values.measurements
    ])
    by_index = {row.index: sample_id for row, sample_id in zip(ordered, sample_ids, strict=True)}
    return [by_index[row.index] for row in rows]


_write = transactional(_insert)
