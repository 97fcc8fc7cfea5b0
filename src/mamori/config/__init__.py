"""Settings: one YAML file holding the daemon settings and the site model, validated with file:line:field errors."""

from mamori.config.actions import (
    BUILTIN_ACTION_OPTIONS,
    ActionOptionTypes,
    ActionSettings,
    EmailAction,
    ScriptAction,
    SyslogAction,
    WebhookAction,
    ZabbixAction,
    redact_secrets,
    redact_url,
)
from mamori.config.loader import Settings, load_settings, settings_from_text
from mamori.config.sections import (
    CaptureSettings,
    DetectionSettings,
    IpMacConflictSettings,
    NewPathSettings,
    PortScanSettings,
    StorageSettings,
    SynFloodSettings,
    UnregisteredTerminalSettings,
    ZonePolicySettings,
)
from mamori.config.values import normalize_ip, normalize_mac, parse_duration

__all__ = [
    "BUILTIN_ACTION_OPTIONS",
    "ActionOptionTypes",
    "ActionSettings",
    "CaptureSettings",
    "DetectionSettings",
    "EmailAction",
    "IpMacConflictSettings",
    "NewPathSettings",
    "PortScanSettings",
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
