"""Limits lifecycle and chart reads of a characteristic (api.md §5, §X.2).

Writes (recalculate-limits, set-limits, change-mode) need engineer at any plant before
validation and engineer at the characteristic's plant after the 404. The reference checks
set-limits and change-mode only at "any plant" (§D.6); we check the owning plant for all
three. Reads (chart-data, capability) need operator at the plant.
"""

from __future__ import annotations

from typing import Any

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.limits import (
    BaselineQuerySchema,
    CapabilityResponseSchema,
    ChangeModeRequestSchema,
    ChangeModeResponseSchema,
    ChartDataQuerySchema,
    ChartDataResponseSchema,
    ControlLimitsResponseSchema,
    RecalculateLimitsResponseSchema,
    RecalculateQuerySchema,
    SetLimitsRequestSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import charts, limits
from openspc.services.characteristics import describe_one

blp = Blueprint(
    "limits", __name__, url_prefix="/api/v1/characteristics",
    description="Control limits, chart data and capability",
)


def _window(query: dict[str, Any]) -> limits.BaselineFilter:
    return limits.BaselineFilter(
        start_date=query.get("start_date"),
        end_date=query.get("end_date"),
        last_n=query.get("last_n"),
    )


@blp.route("/<int:char_id>/recalculate-limits", methods=["POST"])
@require_role("engineer")
@blp.arguments(RecalculateQuerySchema, location="query")
@blp.response(200, RecalculateLimitsResponseSchema)
def recalculate_limits(query: dict[str, Any], char_id: int):
    """Recalculate the limits from the characteristic's samples (a new limits version)."""
    return limits.recalculate_limits(
        current_user(), char_id,
        exclude_ooc=query["exclude_ooc"], min_samples=query["min_samples"],
        window=_window(query),
    )


@blp.route("/<int:char_id>/set-limits", methods=["POST"])
@require_role("engineer")
@blp.arguments(SetLimitsRequestSchema)
@blp.response(200, ControlLimitsResponseSchema)
def set_limits(body: dict[str, Any], char_id: int):
    """Set the limits by hand (a new limits version, method "manual")."""
    return limits.set_limits(current_user(), char_id, **body)


@blp.route("/<int:char_id>/change-mode", methods=["POST"])
@require_role("engineer")
@blp.arguments(ChangeModeRequestSchema)
@blp.response(200, ChangeModeResponseSchema)
def change_mode(body: dict[str, Any], char_id: int):
    """Change the subgroup mode and migrate the stored mode fields of every sample."""
    result = limits.change_mode(current_user(), char_id, body["new_mode"])
    result["characteristic"] = describe_one(result["characteristic"])
    return result


@blp.route("/<int:char_id>/chart-data", methods=["GET"])
@login_required
@blp.arguments(ChartDataQuerySchema, location="query")
@blp.response(200, ChartDataResponseSchema)
def chart_data(query: dict[str, Any], char_id: int):
    """The points, limits, zones and secondary-chart limits to draw the chart."""
    return charts.chart_data(current_user(), char_id, **query)


@blp.route("/<int:char_id>/capability", methods=["GET"])
@login_required
@blp.arguments(BaselineQuerySchema, location="query")
@blp.response(200, CapabilityResponseSchema)
def capability(query: dict[str, Any], char_id: int):
    """Cp/Cpk (within-subgroup sigma) and Pp/Ppk (overall sigma) of the selected samples."""
    return charts.capability_report(current_user(), char_id, _window(query))
