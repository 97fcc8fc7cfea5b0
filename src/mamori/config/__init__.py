"""Settings: one YAML file holding the daemon settings and the site model, validated with file:line:field errors."""

from mamori.config.actions import (
    ActionSettings,
    EmailAction,
    ScriptAction,
    SyslogAction,
    WebhookAction,
    ZabbixAction,
    redact_secrets,
    redact_url,
)
from mamori.config.central import CentralSettings, NatsTls, PostgresSettings
from mamori.config.loader import Settings, load_settings, settings_from_text
from mamori.config.sections import (
    CaptureSettings,
    DetectionSettings,
    ExposureSettings,
    IpMacConflictSettings,
    LateralMovementSettings,
    NewPathSettings,
    PortScanSettings,
    RemoteMaintenanceSettings,
    StorageSettings,
    SynFloodSettings,
    UnregisteredTerminalSettings,
    ZonePolicySettings,
)
from mamori.config.values import normalize_ip, normalize_mac, parse_duration

__all__ = [
    "ActionSettings",
    "CaptureSettings",
    "CentralSettings",
    "DetectionSettings",
    "EmailAction",
    "ExposureSettings",
    "IpMacConflictSettings",
    "LateralMovementSettings",
    "NatsTls",
    "NewPathSettings",
    "PortScanSettings",
    "PostgresSettings",
    "RemoteMaintenanceSettings",
    "ScriptAction",
    "Settings",
    "StorageSettings",
    "SynFloodSettings",
    "SyslogAction",
    "UnregisteredTerminalSettings",
    "WebhookAction",
    "ZabbixAction",
    "ZonePolicySettings",
    "load_settings",
    "normalize_ip",
    "normalize_mac",
    "parse_duration",
    "redact_secrets",
    "redact_url",
    "settings_from_text",
]
