"""Per-characteristic Nelson rule settings: presets, the effective settings, subset updates.

Stored rows (``characteristic_rules``) keep ``parameters`` and ``severity`` null when they are
the defaults; :func:`rule_settings` is the one place that fills them in, for the API and for
the evaluator alike, so both always agree on what a rule does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from openspc.errors import field_error
from openspc.models import Characteristic, CharacteristicRule
from openspc.services.transaction import transactional
from openspc.spc import RULE_NAMES, RuleConfig
from openspc.spc.rules import DEFAULT_PARAMETERS, MAX_WINDOW

RULE_IDS = tuple(RULE_NAMES)
SEVERITIES = ("CRITICAL", "WARNING", "INFO")
PRESETS = ("nelson", "western_electric", "custom")

# Bounds of each parameter, as the engine accepts them (openspc.spc.rules): a trend or an
# alternation needs at least 3 points, a run at least 2; no pattern spans more than the window.
PARAMETER_BOUNDS: dict[int, dict[str, tuple[int, int]]] = {
    1: {},
    2: {"run_length": (2, MAX_WINDOW)},
    3: {"run_length": (3, MAX_WINDOW)},
    4: {"run_length": (3, MAX_WINDOW)},
    5: {"k": (1, MAX_WINDOW), "m": (1, MAX_WINDOW)},
    6: {"k": (1, MAX_WINDOW), "m": (1, MAX_WINDOW)},
    7: {"run_length": (2, MAX_WINDOW)},
    8: {"run_length": (2, MAX_WINDOW)},
}


def default_severity(rule_id: int) -> str:
    """Rule 1 is CRITICAL, the others WARNING, as the reference hard-codes them."""
    return "CRITICAL" if rule_id == 1 else "WARNING"


def effective_parameters(rule_id: int, parameters: Mapping[str, int] | None) -> dict[str, int]:
    """The rule's defaults overridden by the given values."""
    return {**DEFAULT_PARAMETERS[rule_id], **(parameters or {})}


def rule_settings(characteristic: Characteristic) -> list[dict[str, Any]]:
    """Rules 1..8 with every value filled in: ``{rule_id, is_enabled,
    require_acknowledgement, parameters, severity}``.

    A rule without a stored row counts as enabled with acknowledgement required, which is what
    ``GET rules`` has always reported; the evaluator reads this same list (it is the input of
    ``openspc.spc.RuleConfig.from_dict``), so the API and the engine cannot disagree (G-17).
    """
    rows = {row.rule_id: row for row in characteristic.rules}
    return [_setting(rule_id, rows.get(rule_id)) for rule_id in RULE_IDS]


def _setting(rule_id: int, row: CharacteristicRule | None) -> dict[str, Any]:
    if row is None:
        return {
            "rule_id": rule_id, "is_enabled": True, "require_acknowledgement": True,
            "parameters": effective_parameters(rule_id, None),
            "severity": default_severity(rule_id),
        }
    return {
        "rule_id": rule_id,
        "is_enabled": bool(row.is_enabled),
        "require_acknowledgement": bool(row.require_acknowledgement),
        "parameters": effective_parameters(rule_id, row.parameters),
        "severity": row.severity or default_severity(rule_id),
    }


def apply_preset(characteristic: Characteristic, preset: str) -> None:
    """Set rules 1..8 of ``characteristic`` to a preset (``custom`` changes nothing).

    The preset's definition is the engine's (``RuleConfig.preset``); only parameters that
    differ from the defaults are stored. ``require_acknowledgement`` is left as it is on
    existing rows and is true on new ones. Part of the caller's transaction.
    """
    if preset == "custom":
        return
    rows = {row.rule_id: row for row in characteristic.rules}
    for setting in RuleConfig.preset(preset).settings:
        row = rows.get(setting.rule_id)
        if row is None:
            row = CharacteristicRule(rule_id=setting.rule_id, require_acknowledgement=True)
            characteristic.rules.append(row)
        row.is_enabled = setting.enabled
        row.severity = None
        parameters = dict(setting.parameters)
        row.parameters = None if parameters == DEFAULT_PARAMETERS[setting.rule_id] else parameters
    characteristic.eval_state = None


@transactional
def update_rules(
    characteristic: Characteristic, items: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """``PUT rules``: update the listed rules only; rules not listed keep their setting.

    This fixes the reference's gap G-17 (it deleted the omitted rules, which the engine then
    skipped while ``GET rules`` reported them enabled). Per item, ``is_enabled`` and
    ``require_acknowledgement`` take the reference's defaults (true) when absent; the extension
    fields ``parameters`` and ``severity`` keep their stored value when absent and return to
    the default when null. Returns the effective settings of the listed rules, by rule id.
    The evaluator's state, which keeps the rules it ran with, is dropped under the
    evaluator's lock so that the next evaluation reads the new rules.
    """
    from openspc.services.evaluation import lock_characteristic  # it imports this module

    items = list(items)
    _refuse_duplicates(items)
    characteristic = lock_characteristic(characteristic.id)
    rows = {row.rule_id: row for row in characteristic.rules}
    for item in items:
        rule_id = item["rule_id"]
        row = rows.get(rule_id)
        if row is None:
            row = rows[rule_id] = CharacteristicRule(rule_id=rule_id)
            characteristic.rules.append(row)
        row.is_enabled = item.get("is_enabled", True)
        row.require_acknowledgement = item.get("require_acknowledgement", True)
        if "parameters" in item:
            parameters = item["parameters"]
            row.parameters = None if parameters is None else effective_parameters(
                rule_id, parameters
            )
        if "severity" in item:
            row.severity = item["severity"]
    characteristic.eval_state = None
    listed = {item["rule_id"] for item in items}
    return [s for s in rule_settings(characteristic) if s["rule_id"] in listed]


def _refuse_duplicates(items: list[Mapping[str, Any]]) -> None:
    seen: set[int] = set()
    for index, item in enumerate(items):
        if item["rule_id"] in seen:
            message = f"Value error, rule_id {item['rule_id']} is listed twice"
            raise field_error(["body", index, "rule_id"], message, item["rule_id"])
        seen.add(item["rule_id"])
