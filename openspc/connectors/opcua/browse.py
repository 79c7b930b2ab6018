"""Browsing a server's address space and reading one value (api.md §14 ``browse``).

A level costs a fixed number of requests whatever its width, where the reference made one
round trip per child (integration.md §7.3): one Browse of the parent (plus BrowseNext while
the server pages), one Read of DataType and AccessLevel for all variable children, one Read
of the BrowseName of data types outside the built-in ones, and one Browse with every child
as a node to browse to count their own children.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from asyncua import Client, ua

MAX_CHILDREN = 1000
"""Children returned per level; the rest are truncated (as the reference)."""

COUNT_CHUNK = 500
"""Nodes per Browse request when counting grandchildren (servers cap MaxNodesPerBrowse)."""

_HIERARCHICAL = ua.NodeId(ua.ObjectIds.HierarchicalReferences)
_RESULT_ALL = 0x3F  # ReferenceType | IsForward | NodeClass | BrowseName | DisplayName | TypeDef
_BUILTIN_TYPES = {member.value: member.name for member in ua.VariantType}


class InvalidNodeId(ValueError):
    """A node id text that is not an OPC-UA NodeId (``ns=2;i=5``, ``ns=2;s=Name``...)."""


@dataclass(frozen=True)
class BrowsedNode:
    node_id: str
    browse_name: str
    display_name: str
    node_class: str
    data_type: str | None
    is_readable: bool
    children_count: int | None


@dataclass(frozen=True)
class NodeValue:
    node_id: str
    value: Any
    data_type: str | None
    source_timestamp: datetime | None
    server_timestamp: datetime | None
    status_code: str


def parse_node_id(text: str) -> ua.NodeId:
    try:
        return ua.NodeId.from_string(text.strip())
    except Exception as error:  # noqa: BLE001 - asyncua raises several kinds here
        raise InvalidNodeId(f"Invalid node id '{text}': {error}") from None


def _browse_description(node_id: ua.NodeId, result_mask: int) -> ua.BrowseDescription:
    return ua.BrowseDescription(
        NodeId=node_id, BrowseDirection=ua.BrowseDirection.Forward,
        ReferenceTypeId=_HIERARCHICAL, IncludeSubtypes=True, NodeClassMask=0,
        ResultMask=result_mask,
    )


async def _browse_all(client: Client, node_ids: list[ua.NodeId], result_mask: int,
                      limit: int | None = None) -> list[list[ua.ReferenceDescription]]:
    """The forward hierarchical references of each node, following continuation points
    (released once ``limit`` references are in hand)."""
    params = ua.BrowseParameters(
        NodesToBrowse=[_browse_description(node_id, result_mask) for node_id in node_ids]
    )
    results = await client.uaclient.browse(params)
    references: list[list[ua.ReferenceDescription]] = []
    for result in results:
        result.StatusCode.check()
        found = list(result.References or [])
        point = result.ContinuationPoint
        while point and (limit is None or len(found) < limit):
            [more] = await client.uaclient.browse_next(
                ua.BrowseNextParameters(ReleaseContinuationPoints=False,
                                        ContinuationPoints=[point]))
            more.StatusCode.check()
            found.extend(more.References or [])
            point = more.ContinuationPoint
        if point:
            await client.uaclient.browse_next(
                ua.BrowseNextParameters(ReleaseContinuationPoints=True, ContinuationPoints=[point]))
        references.append(found)
    return references


async def _read(client: Client, node_ids: list[ua.NodeId],
                attribute: ua.AttributeIds) -> list[ua.DataValue]:
    if not node_ids:
        return []
    params = ua.ReadParameters(NodesToRead=[
        ua.ReadValueId(NodeId=node_id, AttributeId=attribute) for node_id in node_ids
    ])
    return await client.uaclient.read(params)


async def _type_names(client: Client, type_ids: list[ua.NodeId]) -> dict[ua.NodeId, str]:
    """A name per data type: the built-in variant name, else the type's BrowseName."""
    names: dict[ua.NodeId, str] = {}
    others = []
    for type_id in set(type_ids):
        if type_id.NamespaceIndex == 0 and type_id.Identifier in _BUILTIN_TYPES:
            names[type_id] = _BUILTIN_TYPES[type_id.Identifier]
        else:
            others.append(type_id)
    for type_id, value in zip(others, await _read(client, others, ua.AttributeIds.BrowseName),
                              strict=True):
        name = value.Value.Value if value.StatusCode.is_good() and value.Value else None
        names[type_id] = name.Name if isinstance(name, ua.QualifiedName) else "Unknown"
    return names


async def _count_children(client: Client, node_ids: list[ua.NodeId]) -> list[int]:
    counts: list[int] = []
    for start in range(0, len(node_ids), COUNT_CHUNK):
        chunk = node_ids[start:start + COUNT_CHUNK]
        counts.extend(len(refs) for refs in await _browse_all(client, chunk, 0))
    return counts


async def browse_children(client: Client, parent: str | None) -> list[BrowsedNode]:
    """The direct children of ``parent`` (the Objects folder when None)."""
    parent_id = parse_node_id(parent) if parent else ua.NodeId(ua.ObjectIds.ObjectsFolder)
    [references] = await _browse_all(client, [parent_id], _RESULT_ALL, MAX_CHILDREN)
    references = [ref for ref in references if ref.IsForward][:MAX_CHILDREN]
    children = [ref.NodeId for ref in references]
    variables = [ref.NodeId for ref in references if ref.NodeClass == ua.NodeClass.Variable]
    type_values = await _read(client, variables, ua.AttributeIds.DataType)
    access_values = await _read(client, variables, ua.AttributeIds.AccessLevel)
    type_ids = {
        node_id: value.Value.Value
        for node_id, value in zip(variables, type_values, strict=True)
        if value.StatusCode.is_good() and value.Value and isinstance(value.Value.Value, ua.NodeId)
    }
    names = await _type_names(client, list(type_ids.values()))
    readable = {
        node_id: bool(value.StatusCode.is_good() and value.Value
                      and int(value.Value.Value) & ua.AccessLevel.CurrentRead.mask)
        for node_id, value in zip(variables, access_values, strict=True)
    }
    counts = await _count_children(client, children)
    return [
        BrowsedNode(
            node_id=ref.NodeId.to_string(),
            browse_name=ref.BrowseName.Name or "",
            display_name=ref.DisplayName.Text or "",
            node_class=ref.NodeClass.name,
            data_type=(names.get(type_ids[ref.NodeId], "Unknown") if ref.NodeId in type_ids
                       else "Unknown" if ref.NodeClass == ua.NodeClass.Variable else None),
            is_readable=readable.get(ref.NodeId, False),
            children_count=count,
        )
        for ref, count in zip(references, counts, strict=True)
    ]


def _primitive(value: Any) -> Any:
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


async def read_value(client: Client, node_id: str) -> NodeValue:
    """The node's current DataValue; non-primitive values as text (api.md §S NodeValue)."""
    [value] = await _read(client, [parse_node_id(node_id)], ua.AttributeIds.Value)
    variant = value.Value
    return NodeValue(
        node_id=node_id,
        value=_primitive(variant.Value if variant else None),
        data_type=variant.VariantType.name if variant and variant.VariantType else None,
        source_timestamp=_aware(value.SourceTimestamp),
        server_timestamp=_aware(value.ServerTimestamp),
        status_code=value.StatusCode.name if value.StatusCode else "Good",
    )
