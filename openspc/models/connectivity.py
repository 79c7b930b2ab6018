"""MQTT brokers, OPC-UA servers and the data sources that map them to characteristics."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from openspc.extensions import db
from openspc.models.types import Double, UTCDateTime, utcnow


class MqttBroker(db.Model):
    __tablename__ = "mqtt_broker"
    __table_args__ = (sa.UniqueConstraint("plant_id", "name", name="uq_broker_plant_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("plant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    host: Mapped[str] = mapped_column(sa.String(255))
    port: Mapped[int] = mapped_column(sa.Integer, server_default="1883", default=1883)
    username: Mapped[str | None] = mapped_column(sa.String(100))
    password: Mapped[str | None] = mapped_column(sa.String(500))
    client_id: Mapped[str] = mapped_column(sa.String(100), server_default="openspc-client")
    keepalive: Mapped[int] = mapped_column(sa.Integer, server_default="60", default=60)
    max_reconnect_delay: Mapped[int] = mapped_column(sa.Integer, server_default="300", default=300)
    use_tls: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.false(), default=False)
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    payload_format: Mapped[str] = mapped_column(
        sa.String(20), server_default="json", default="json"
    )
    outbound_enabled: Mapped[bool] = mapped_column(
        sa.Boolean, server_default=sa.false(), default=False
    )
    outbound_topic_prefix: Mapped[str] = mapped_column(
        sa.String(200), server_default="openspc", default="openspc"
    )
    outbound_format: Mapped[str] = mapped_column(
        sa.String(20), server_default="json", default="json"
    )
    outbound_rate_limit: Mapped[float] = mapped_column(Double, server_default="1.0", default=1.0)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )


class OpcuaServer(db.Model):
    __tablename__ = "opcua_server"
    __table_args__ = (
        sa.UniqueConstraint("plant_id", "name", name="uq_opcua_server_plant_name"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plant_id: Mapped[int | None] = mapped_column(sa.ForeignKey("plant.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(sa.String(100))
    endpoint_url: Mapped[str] = mapped_column(sa.String(500))
    auth_mode: Mapped[str] = mapped_column(
        sa.String(50), server_default="anonymous", default="anonymous"
    )
    username: Mapped[str | None] = mapped_column(sa.String(255))
    password: Mapped[str | None] = mapped_column(sa.String(500))
    security_policy: Mapped[str] = mapped_column(
        sa.String(50), server_default="None", default="None"
    )
    security_mode: Mapped[str] = mapped_column(
        sa.String(50), server_default="None", default="None"
    )
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    session_timeout: Mapped[int] = mapped_column(sa.Integer, server_default="30000", default=30000)
    publishing_interval: Mapped[int] = mapped_column(
        sa.Integer, server_default="1000", default=1000
    )
    sampling_interval: Mapped[int] = mapped_column(sa.Integer, server_default="250", default=250)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )


class DataSource(db.Model):
    __tablename__ = "data_source"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(50))
    characteristic_id: Mapped[int] = mapped_column(
        sa.ForeignKey("characteristic.id", ondelete="CASCADE"), unique=True
    )
    trigger_strategy: Mapped[str] = mapped_column(
        sa.String(50), server_default="on_change", default="on_change"
    )
    is_active: Mapped[bool] = mapped_column(sa.Boolean, server_default=sa.true(), default=True)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=sa.func.now(), default=utcnow, onupdate=utcnow
    )

    __mapper_args__ = {"polymorphic_on": "type", "polymorphic_identity": "base"}


class MqttDataSource(DataSource):
    __tablename__ = "mqtt_data_source"

    id: Mapped[int] = mapped_column(
        sa.ForeignKey("data_source.id", ondelete="CASCADE"), primary_key=True
    )
    broker_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("mqtt_broker.id", ondelete="SET NULL"), index=True
    )
    topic: Mapped[str] = mapped_column(sa.String(500))
    metric_name: Mapped[str | None] = mapped_column(sa.String(255))
    trigger_tag: Mapped[str | None] = mapped_column(sa.String(500))
    # Extensions (ours): where a JSON payload holds the value and the device's timestamp,
    # and the period of ``on_timer`` (the reference had none: integration.md §11.2 G-6, G-7).
    value_path: Mapped[str | None] = mapped_column(sa.String(255))
    timestamp_path: Mapped[str | None] = mapped_column(sa.String(255))
    timer_ms: Mapped[int | None] = mapped_column(sa.Integer)

    __mapper_args__ = {"polymorphic_identity": "mqtt"}


class OpcuaDataSource(DataSource):
    __tablename__ = "opcua_data_source"

    id: Mapped[int] = mapped_column(
        sa.ForeignKey("data_source.id", ondelete="CASCADE"), primary_key=True
    )
    server_id: Mapped[int] = mapped_column(
        sa.ForeignKey(
            "opcua_server.id", ondelete="CASCADE", name="fk_opcua_data_source_server_id"
        ),
        index=True,
    )
    node_id: Mapped[str] = mapped_column(sa.String(500))
    sampling_interval: Mapped[int | None] = mapped_column(sa.Integer)
    publishing_interval: Mapped[int | None] = mapped_column(sa.Integer)

    __mapper_args__ = {"polymorphic_identity": "opcua"}


class MqttDelivery(db.Model):
    """The last committed message of each MQTT packet id of a broker's session: a QoS 1
    redelivery (DUP, same packet id) whose digest matches was stored already."""

    __tablename__ = "mqtt_delivery"

    broker_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mqtt_broker.id", ondelete="CASCADE", name="fk_mqtt_delivery_broker_id"),
        primary_key=True,
        autoincrement=False)
    packet_id: Mapped[int] = mapped_column(sa.Integer, primary_key=True, autoincrement=False)
    digest: Mapped[str] = mapped_column(sa.String(64))
    committed_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MqttPartialSubgroup(db.Model):
    """The values a mapping has buffered towards its next subgroup (``[[value, iso time or
    null], ...]``), committed with the message that brought them, so a restart loses none."""

    __tablename__ = "mqtt_partial_subgroup"

    data_source_id: Mapped[int] = mapped_column(
        sa.ForeignKey("data_source.id", ondelete="CASCADE",
                      name="fk_mqtt_partial_subgroup_source_id"),
        primary_key=True, autoincrement=False)
    readings: Mapped[list] = mapped_column(sa.JSON)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class SparkplugNodeState(db.Model):
    """A Sparkplug edge node's host-side session (bdSeq, seq, alias and datatype tables of the
    node and its devices, online flags) as of the last committed message, so a restarted
    listener resolves aliases without waiting for a rebirth."""

    __tablename__ = "sparkplug_node_state"

    broker_id: Mapped[int] = mapped_column(
        sa.ForeignKey("mqtt_broker.id", ondelete="CASCADE",
                      name="fk_sparkplug_node_state_broker_id"),
        primary_key=True, autoincrement=False)
    group_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    edge_node: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    state: Mapped[dict] = mapped_column(sa.JSON)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
