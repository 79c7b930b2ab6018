"""All models, imported here so that metadata and migrations see every table."""

from openspc.models.annotation import Annotation, AnnotationHistory
from openspc.models.characteristic import (
    Characteristic,
    CharacteristicConfig,
    CharacteristicRule,
    ControlLimitsVersion,
)
from openspc.models.connectivity import (
    DataSource,
    MqttBroker,
    MqttDataSource,
    MqttDelivery,
    MqttPartialSubgroup,
    OpcuaDataSource,
    OpcuaServer,
    SparkplugNodeState,
)
from openspc.models.hierarchy import Hierarchy
from openspc.models.lease import MaintenanceLease
from openspc.models.listener import ConnectionLease, ConnectionStatus, ListenerConfig
from openspc.models.outbox import OutboxEvent
from openspc.models.retention import PurgeHistory, RetentionPolicy
from openspc.models.sample import Measurement, Sample, SampleEditHistory
from openspc.models.tenancy import ApiKey, Plant, RefreshToken, User, UserPlantRole
from openspc.models.violation import Violation

__all__ = [
    "Annotation", "AnnotationHistory", "ApiKey", "Characteristic", "CharacteristicConfig",
    "CharacteristicRule", "ControlLimitsVersion", "DataSource", "Hierarchy", "Measurement",
    "MqttBroker", "MqttDataSource", "OpcuaDataSource", "OpcuaServer", "OutboxEvent", "Plant",
    "PurgeHistory", "RefreshToken", "RetentionPolicy", "Sample", "SampleEditHistory", "User",
    "UserPlantRole", "Violation", "MaintenanceLease",
    "ConnectionLease", "ConnectionStatus", "ListenerConfig", "MqttDelivery",
    "MqttPartialSubgroup", "SparkplugNodeState",
]
