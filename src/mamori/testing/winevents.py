"""Windows events for tests and benchmarks: builders for the events the rules read, the forms log shippers write
them in (Winlogbeat/ECS, NXLog, evtx_dump), and the Osaka General Medical Center attack chain shown in the
Ministry's 2023 training.

The Ministry's 2023 training (MHLW, on the Osaka incident) shows the catering server's logs of 2022-10-31 (JST):
27 failed logons (4625: Administrator, no domain, NTLM, status 0xC000006D, sub-status 0xC000006A, no source
address) between 4:07:12 and 4:07:22 and 1,989 up to 9:31:20; a 4624 of logon type 10 at 4:07:14 from the
catering vendor's server; Advanced IP Scanner 2.5.1 installed at 4:18:05; Mimikatz in a folder made at 4:16; a
list of servers written at 4:49 before the attackers moved on over RDP. Addresses and names here are made up.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from typing import Any

from mamori.model import WindowsEvent
from mamori.testing.evtx_writer import USER_DATA, Form

__all__ = [
    "CATERING_SERVER",
    "NEXT_SERVER_IP",
    "SECURITY_PROVIDER",
    "SERVER_CHANNELS",
    "VENDOR_IP",
    "clear_every_log",
    "ecs_line",
    "event",
    "evtx_json_line",
    "failed_logon",
    "logon",
    "nxlog_line",
    "osaka_chain",
]

SECURITY_PROVIDER = "Microsoft-Windows-Security-Auditing"
CATERING_SERVER = "KYUSHOKU-SV01"  # the catering (給食) server
VENDOR_IP = "172.31.8.20"  # the catering vendor's server
NEXT_SERVER_IP = "10.10.20.15"  # where the attackers went next
JST = dt.timezone(dt.timedelta(hours=9))
_LSM = "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"
_CLIENT = "Microsoft-Windows-TerminalServices-RDPClient/Operational"
_SYSMON = "Microsoft-Windows-Sysmon/Operational"


def event(
    ts: float,
    event_id: int,
    fields: dict[str, str],
    *,
    channel: str = "Security",
    provider: str = SECURITY_PROVIDER,
    computer: str = CATERING_SERVER,
    record_id: int | None = None,
) -> WindowsEvent:
    return WindowsEvent(ts, computer, channel, provider, event_id, record_id, fields, "test")


def failed_logon(
    ts: float,
    user: str = "ADMINISTRATOR",
    ip: str = "-",
    *,
    computer: str = CATERING_SERVER,
    logon_type: int = 3,
    domain: str = "-",
    workstation: str = "-",
    sub_status: str = "0xc000006a",
) -> WindowsEvent:
    """4625 as in the Ministry's 2023 training on the Osaka incident: NTLM through NtLmSsp, no domain, bad password."""
    return event(
        ts,
        4625,
        {
            "SubjectUserSid": "S-1-0-0",
            "SubjectUserName": "-",
            "TargetUserSid": "S-1-0-0",
            "TargetUserName": user,
            "TargetDomainName": domain,
            "Status": "0xc000006d",
            "SubStatus": sub_status,
            "LogonType": str(logon_type),
            "LogonProcessName": "NtLmSsp ",
            "AuthenticationPackageName": "NTLM",
            "WorkstationName": workstation,
            "IpAddress": ip,
            "IpPort": "-" if ip == "-" else "50123",
        },
        computer=computer,
    )


def logon(
    ts: float,
    user: str = "Administrator",
    ip: str = VENDOR_IP,
    *,
    computer: str = CATERING_SERVER,
    logon_type: int = 10,
    domain: str = CATERING_SERVER,
    package: str = "Negotiate",
    sid: str = "S-1-5-21-1004336348-1177238915-682003330-500",
) -> WindowsEvent:
    """4624 (type 10: RDP) as in the Ministry's 2023 training on the Osaka incident."""
    return event(
        ts,
        4624,
        {
            "TargetUserSid": sid,
            "TargetUserName": user,
            "TargetDomainName": domain,
            "TargetLogonId": "0x1b8603",
            "LogonType": str(logon_type),
            "LogonProcessName": "User32 " if logon_type == 10 else ("NtLmSsp " if package == "NTLM" else "Kerberos"),
            "AuthenticationPackageName": package,
            "WorkstationName": "VENDOR-SV",
            "ProcessName": "C:\\Windows\\System32\\winlogon.exe",
            "IpAddress": ip,
            "IpPort": "0",
        },
        computer=computer,
    )


# Event logs of a Windows Server with RDP and Sysmon, named as ``wevtutil el`` names them: 91 channels, as many as
# the server cleared (the list is put together for the tests, not taken from that server).
SERVER_CHANNELS: tuple[str, ...] = (
    "Application",
    "HardwareEvents",
    "Internet Explorer",
    "Key Management Service",
    "Microsoft-Client-Licensing-Platform/Admin",
    "Microsoft-Windows-AppLocker/EXE and DLL",
    "Microsoft-Windows-AppLocker/MSI and Script",
    "Microsoft-Windows-AppModel-Runtime/Admin",
    "Microsoft-Windows-AppReadiness/Admin",
    "Microsoft-Windows-AppXDeploymentServer/Operational",
    "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant",
    "Microsoft-Windows-Application-Experience/Program-Telemetry",
    "Microsoft-Windows-Bits-Client/Operational",
    "Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational",
    "Microsoft-Windows-CodeIntegrity/Operational",
    "Microsoft-Windows-Crypto-DPAPI/Operational",
    "Microsoft-Windows-DeviceSetupManager/Admin",
    "Microsoft-Windows-Dhcp-Client/Admin",
    "Microsoft-Windows-Dhcpv6-Client/Admin",
    "Microsoft-Windows-Diagnosis-DPS/Operational",
    "Microsoft-Windows-Diagnosis-PCW/Operational",
    "Microsoft-Windows-DiskDiagnosticDataCollector/Operational",
    "Microsoft-Windows-DNS-Client/Operational",
    "Microsoft-Windows-DriverFrameworks-UserMode/Operational",
    "Microsoft-Windows-FileServices-ServerManager-EventProvider/Operational",
    "Microsoft-Windows-GroupPolicy/Operational",
    "Microsoft-Windows-Kernel-Boot/Operational",
    "Microsoft-Windows-Kernel-EventTracing/Admin",
    "Microsoft-Windows-Kernel-IO/Operational",
    "Microsoft-Windows-Kernel-PnP/Configuration",
    "Microsoft-Windows-Kernel-Power/Thermal-Operational",
    "Microsoft-Windows-Kernel-ShimEngine/Operational",
    "Microsoft-Windows-Kernel-WHEA/Errors",
    "Microsoft-Windows-Kernel-WHEA/Operational",
    "Microsoft-Windows-Known Folders API Service",
    "Microsoft-Windows-LanguagePackSetup/Operational",
    "Microsoft-Windows-NCSI/Operational",
    "Microsoft-Windows-NetworkProfile/Operational",
    "Microsoft-Windows-NTLM/Operational",
    "Microsoft-Windows-Ntfs/Operational",
    "Microsoft-Windows-PowerShell/Admin",
    "Microsoft-Windows-PowerShell/Operational",
    "Microsoft-Windows-PrintService/Admin",
    "Microsoft-Windows-Program-Compatibility-Assistant/CompatAfterUpgrade",
    "Microsoft-Windows-Provisioning-Diagnostics-Provider/Admin",
    "Microsoft-Windows-RemoteApp and Desktop Connections/Admin",
    "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Admin",
    "Microsoft-Windows-RemoteDesktopServices-RdpCoreTS/Operational",
    "Microsoft-Windows-Resource-Exhaustion-Detector/Operational",
    "Microsoft-Windows-RestartManager/Operational",
    "Microsoft-Windows-Security-Adminless/Operational",
    "Microsoft-Windows-Security-Mitigations/KernelMode",
    "Microsoft-Windows-Security-SPP-UX-Notifications/ActionCenter",
    "Microsoft-Windows-SettingSync/Debug",
    "Microsoft-Windows-Shell-Core/Operational",
    "Microsoft-Windows-SmbClient/Connectivity",
    "Microsoft-Windows-SmbClient/Security",
    "Microsoft-Windows-SMBServer/Operational",
    "Microsoft-Windows-SMBServer/Security",
    "Microsoft-Windows-StateRepository/Operational",
    "Microsoft-Windows-Storage-Storport/Operational",
    "Microsoft-Windows-StorageSpaces-Driver/Operational",
    "Microsoft-Windows-Store/Operational",
    "Microsoft-Windows-Sysmon/Operational",
    "Microsoft-Windows-TaskScheduler/Maintenance",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Admin",
    "Microsoft-Windows-TerminalServices-LocalSessionManager/Operational",
    "Microsoft-Windows-TerminalServices-PnPDevices/Admin",
    "Microsoft-Windows-TerminalServices-Printers/Admin",
    "Microsoft-Windows-TerminalServices-RDPClient/Operational",
    "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Admin",
    "Microsoft-Windows-TerminalServices-RemoteConnectionManager/Operational",
    "Microsoft-Windows-Time-Service/Operational",
    "Microsoft-Windows-TZSync/Operational",
    "Microsoft-Windows-User Device Registration/Admin",
    "Microsoft-Windows-User Profile Service/Operational",
    "Microsoft-Windows-VHDMP-Operational",
    "Microsoft-Windows-WER-PayloadHealth/Operational",
    "Microsoft-Windows-WindowsUpdateClient/Operational",
    "Microsoft-Windows-Windows Defender/Operational",
    "Microsoft-Windows-Windows Defender/WHC",
    "Microsoft-Windows-Windows Firewall With Advanced Security/Firewall",
    "Microsoft-Windows-WinRM/Operational",
    "Microsoft-Windows-Winlogon/Operational",
    "Microsoft-Windows-WMI-Activity/Operational",
    "OpenSSH/Admin",
    "OpenSSH/Operational",
    "Security",
    "Setup",
    "System",
    "Windows PowerShell",
)


def clear_every_log(
    ts: float,
    *,
    computer: str = CATERING_SERVER,
    user: str = "Administrator",
    domain: str = CATERING_SERVER,
    channels: tuple[str, ...] = SERVER_CHANNELS,
    spacing: float = 0.04,
) -> list[WindowsEvent]:
    """What ``for /F "tokens=*" %1 in ('wevtutil el') do wevtutil cl "%1"`` leaves: a 1102 in the new Security log
    for the Security log, a 104 in System for every other one (as in the real samples DE_1102 / DE_104 of
    EVTX-ATTACK-SAMPLES), ``spacing`` seconds apart."""
    provider = "Microsoft-Windows-Eventlog"
    out: list[WindowsEvent] = []
    for n, channel in enumerate(channels):
        subject = {"SubjectUserName": user, "SubjectDomainName": domain}
        if channel == "Security":
            fields = {"SubjectUserSid": "S-1-5-21-1-2-3-500", **subject, "SubjectLogonId": "0x17dad"}
            out.append(event(ts + n * spacing, 1102, fields, provider=provider, computer=computer))
        else:
            fields = {**subject, "Channel": channel, "BackupPath": ""}
            out.append(event(ts + n * spacing, 104, fields, channel="System", provider=provider, computer=computer))
    return out


def _jst(hour: int, minute: int, second: float) -> float:
    return dt.datetime(2022, 10, 31, hour, minute, 0, tzinfo=JST).timestamp() + second


def osaka_chain() -> Iterator[WindowsEvent]:
    """The catering server's chain, in time order: 1,989 failures (27 in the first 10 s), the RDP logon that
    worked, Mimikatz, Advanced IP Scanner, and the RDP session to the next server."""
    start = _jst(4, 7, 12)
    end = _jst(9, 31, 20)
    failures = [start + i * 10 / 26 for i in range(27)]  # 27 in 10 s
    rest = 1989 - 27
    step = (end - failures[-1]) / rest
    failures += [failures[-1] + step * (i + 1) for i in range(rest)]
    others: list[WindowsEvent] = [
        logon(_jst(4, 7, 14)),
        event(
            _jst(4, 7, 14.5),
            21,
            {"User": f"{CATERING_SERVER}\\Administrator", "SessionID": "2", "Address": VENDOR_IP},
            channel=_LSM,
            provider="Microsoft-Windows-TerminalServices-LocalSessionManager",
        ),
        event(
            _jst(4, 16, 30),
            1,
            {
                "Image": "C:\\Users\\Administrator\\Desktop\\MIMIx64\\mimikatz.exe",
                "OriginalFileName": "mimikatz.exe",
                "CommandLine": "mimikatz.exe privilege::debug sekurlsa::logonpasswords exit",
                "User": f"{CATERING_SERVER}\\Administrator",
            },
            channel=_SYSMON,
            provider="Microsoft-Windows-Sysmon",
        ),
        event(
            _jst(4, 17, 33),
            1040,
            {"Data": "C:\\Users\\ADMINI~1\\AppData\\Local\\Temp\\2\\Advanced IP Scanner 2\\ipscan.msi\n4468"},
            channel="Application",
            provider="MsiInstaller",
        ),
        event(
            _jst(4, 18, 5),
            11707,
            {"Data": "Product: Advanced IP Scanner 2.5.1 -- Installation completed successfully."},
            channel="Application",
            provider="MsiInstaller",
        ),
        event(
            _jst(4, 18, 5.1),
            1033,
            {"Data": "Advanced IP Scanner 2.5.1\n2.5.4594.1\n1041\n0\nFamatech Corp."},
            channel="Application",
            provider="MsiInstaller",
        ),
        event(
            _jst(4, 49, 40),
            1024,
            {"Value": NEXT_SERVER_IP, "CustomLevel": "Info"},
            channel=_CLIENT,
            provider="Microsoft-Windows-TerminalServices-ClientActiveXCore",
        ),
        event(
            _jst(4, 49, 41),
            1102,
            {"Value": NEXT_SERVER_IP, "CustomLevel": "Info"},
            channel=_CLIENT,
            provider="Microsoft-Windows-TerminalServices-ClientActiveXCore",
        ),
    ]
    merged = [failed_logon(ts, logon_type=8) for ts in failures] + others
    merged.sort(key=lambda e: e.ts)
    for number, item in enumerate(merged, start=1):
        yield item._replace(record_id=number)


def _utc(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, tz=dt.UTC).isoformat().replace("+00:00", "Z")


def ecs_line(e: WindowsEvent) -> str:
    """Winlogbeat 8 / Elastic Agent (ECS): ``winlog.*`` and ``@timestamp``; event data values are text."""
    doc: dict[str, Any] = {
        "@timestamp": _utc(e.ts),
        "event": {"code": str(e.event_id), "provider": e.provider, "kind": "event"},
        "host": {"name": e.computer.lower()},
        "message": "アカウントがログオンに失敗しました。",  # rendered in the collector's language: never read
        "winlog": {
            "channel": e.channel,
            "computer_name": e.computer,
            "event_id": str(e.event_id),
            "provider_name": e.provider,
            "record_id": e.record_id,
            "event_data": dict(e.fields),
        },
    }
    return json.dumps(doc, ensure_ascii=False)


def nxlog_line(e: WindowsEvent, tz: dt.tzinfo = JST) -> str:
    """NXLog ``im_msvistalog`` + ``to_json()``: EventTime in the agent's local time, event data at the top."""
    doc: dict[str, Any] = {
        "EventTime": dt.datetime.fromtimestamp(e.ts, tz=tz).strftime("%Y-%m-%d %H:%M:%S"),
        "Hostname": e.computer,
        "Keywords": "-9214364837600034816",
        "EventType": "AUDIT_FAILURE" if e.event_id == 4625 else "INFO",
        "SeverityValue": 2,
        "Severity": "INFO",
        "EventID": e.event_id,
        "SourceName": e.provider,
        "RecordNumber": e.record_id,
        "Channel": e.channel,
        "Message": "Windows インストーラーにより製品がインストールされました。",
        "SourceModuleName": "eventlog",
        "SourceModuleType": "im_msvistalog",
        **e.fields,
    }
    return json.dumps(doc, ensure_ascii=False)


def _typed(value: str, form: Form) -> Any:
    """A field's value as the parser gives it: a number in the ``int`` form when it is a plain decimal number."""
    if form == "int" and value.isascii() and value.isdigit() and (len(value) == 1 or value[0] != "0"):
        return int(value)
    return value


def evtx_json_line(e: WindowsEvent, form: Form = "int") -> str:
    """What ``evtx_dump -o jsonl`` writes: the event XML as JSON (``UserData`` for the events Windows writes so).
    ``form``: the values typed as Windows types them, every value as text, or as text in elements that also have
    attributes (see :mod:`mamori.testing.evtx_writer`)."""

    def tagged(value: Any, name: str = "Source") -> Any:
        return {"#attributes": {name: "mamori-test"}, "#text": value} if form == "text" else value

    record = e.record_id
    system: dict[str, Any] = {
        "Provider": {"#attributes": {"Name": e.provider}},
        "EventID": e.event_id if form == "int" else str(e.event_id),
        "TimeCreated": {"#attributes": {"SystemTime": _utc(e.ts)}},
        "EventRecordID": record if form == "int" or record is None else tagged(str(record)),
        "Channel": tagged(e.channel),
        "Computer": tagged(e.computer),
    }
    if form == "text":
        system["EventID"] = {"#attributes": {"Qualifiers": "16384"}, "#text": str(e.event_id)}
    container = USER_DATA.get((e.channel.lower(), e.event_id))
    if container is None:
        body: dict[str, Any] = {"EventData": {k: _typed(v, form) for k, v in e.fields.items()}}
    else:
        leaves = {k: tagged(_typed(v, form), "Kind") for k, v in e.fields.items()}
        body = {"UserData": {container: {"#attributes": {"xmlns": "Event_NS"}, **leaves}}}
    return json.dumps({"Event": {"System": system, **body}}, ensure_ascii=False)
