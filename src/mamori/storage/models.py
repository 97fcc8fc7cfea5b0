"""The tables. Times are stored as UTC datetimes; alerts are upserted by their uid."""

from __future__ import annotations

from django.db import models


class AlertRecord(models.Model):
    """One alert episode, as last reported by the detection engine (counts plus samples, not one row per packet)."""

    class Status(models.TextChoices):
        OPEN = "open"
        ACKNOWLEDGED = "acknowledged"
        RESOLVED = "resolved"
        FALSE_POSITIVE = "false_positive"

    uid = models.CharField(max_length=64, unique=True)
    rule = models.CharField(max_length=64)
    key = models.CharField(max_length=512)
    severity = models.PositiveSmallIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    count = models.BigIntegerField(default=0)
    src_mac = models.CharField(max_length=17, null=True, blank=True)
    src_ip = models.CharField(max_length=45, null=True, blank=True)
    dst_ip = models.CharField(max_length=45, null=True, blank=True)
    dst_port = models.PositiveIntegerField(null=True, blank=True)
    system = models.CharField(max_length=200, null=True, blank=True)
    summary_ja = models.TextField()
    summary_en = models.TextField()
    details = models.JSONField(default=dict)
    samples = models.JSONField(default=list)
    origin = models.CharField(max_length=32, default="sensor")  # sensor | analyze
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    status_changed_at = models.DateTimeField(null=True, blank=True)
    status_by = models.CharField(max_length=150, blank=True, default="")
    status_comment = models.TextField(blank=True, default="")
    # The incident the alert is part of (IncidentRecord.uid); None for alerts stored before incidents existed.
    incident_uid = models.CharField(max_length=32, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The site the alert comes from, on the central server (docs/design.md §10, central); "" on a sensor's own box.
    site = models.CharField(max_length=64, blank=True, default="", db_default="")  # a database default: old writers

    class Meta:
        db_table = "mamori_alert"
        # Measured with a million alerts (benchmarks/bench_web.py): the filter columns ride along in the indexes
        # so that the dashboard's counts and lists never read the table rows they do not show.
        indexes = [
            models.Index(fields=["first_seen"], name="mamori_alert_first_seen"),
            models.Index(fields=["status", "severity", "last_seen"], name="mamori_alert_status_sev_t"),
            models.Index(fields=["src_ip"], name="mamori_alert_src_ip"),
            models.Index(fields=["last_seen", "id", "first_seen"], name="mamori_alert_seen"),
            models.Index(fields=["rule", "last_seen", "severity", "system", "status"], name="mamori_alert_rule_f"),
            models.Index(fields=["severity", "last_seen"], name="mamori_alert_severity"),
            models.Index(fields=["system", "last_seen", "severity", "rule", "status"], name="mamori_alert_system_f"),
            models.Index(fields=["src_mac"], name="mamori_alert_src_mac"),
            models.Index(fields=["status", "last_seen"], name="mamori_alert_status"),
            models.Index(fields=["incident_uid", "first_seen"], name="mamori_alert_incident"),
            models.Index(fields=["site", "last_seen", "severity", "rule", "status"], name="mamori_alert_site_f"),
        ]


class SensorStatus(models.Model):
    """Health of a packet source (an interface of the live sensor, or a file analysed)."""

    name = models.CharField(max_length=255, unique=True)
    kind = models.CharField(max_length=16)  # interface | file
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_packet = models.DateTimeField(null=True, blank=True)
    matched = models.BigIntegerField(default=0)
    decoded = models.BigIntegerField(default=0)
    malformed = models.BigIntegerField(default=0)
    received = models.BigIntegerField(default=0)
    dropped = models.BigIntegerField(default=0)
    if_dropped = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_sensor_status"


class DeliveryRecord(models.Model):
    """One attempt to deliver an alert through an action, as the operator sees it next to the alert."""

    alert_uid = models.CharField(max_length=64)
    action = models.CharField(max_length=64)
    action_type = models.CharField(max_length=16)
    event = models.CharField(max_length=16)  # new | update
    attempt = models.PositiveIntegerField()
    ts = models.DateTimeField()
    ok = models.BooleanField()
    final = models.BooleanField()
    detail = models.TextField(blank=True, default="")
    alert_count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "mamori_delivery"
        indexes = [
            models.Index(fields=["alert_uid", "ts"], name="mamori_delivery_alert"),
            models.Index(fields=["ts"], name="mamori_delivery_ts"),
        ]


class TerminalRecord(models.Model):
    """The terminal ledger (台帳) kept in the database: terminals imported from CSV, accepted from `learn`, or
    added in the dashboard. The settings file's terminals are added to these; a retired terminal no longer counts."""

    system = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    mac = models.CharField(max_length=17, null=True, blank=True)  # None: known by IP only (behind a router)
    ip = models.CharField(max_length=45, null=True, blank=True)
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=16, default="import")  # import | learn | web
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mamori_terminal"
        constraints = [
            models.UniqueConstraint(
                fields=["system", "mac"], condition=models.Q(mac__isnull=False), name="mamori_terminal_system_mac"
            ),
            models.UniqueConstraint(
                fields=["system", "ip"], condition=models.Q(mac__isnull=True), name="mamori_terminal_system_ip"
            ),
        ]


class AlertHandling(models.Model):
    """The handling history of an alert: who acknowledged, resolved or marked it, when, and why."""

    alert_uid = models.CharField(max_length=64)
    ts = models.DateTimeField()
    user = models.CharField(max_length=150)
    action = models.CharField(max_length=32)  # acknowledge | resolve | false_positive | reopen | register_terminal
    comment = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_alert_handling"
        indexes = [models.Index(fields=["alert_uid", "ts"], name="mamori_handling_alert")]


class AlertHourly(models.Model):
    """New alerts per hour, rule and severity: the dashboard's chart reads this, never the raw rows."""

    hour = models.DateTimeField()
    rule = models.CharField(max_length=64)
    severity = models.PositiveSmallIntegerField()
    count = models.BigIntegerField(default=0)

    class Meta:
        db_table = "mamori_alert_hourly"
        constraints = [
            models.UniqueConstraint(fields=["hour", "rule", "severity"], name="mamori_alert_hourly_key"),
        ]


class SensorHour(models.Model):
    """The hours in which a packet source reported itself alive: the sensor's uptime in reports."""

    name = models.CharField(max_length=255)
    hour = models.DateTimeField()

    class Meta:
        db_table = "mamori_sensor_hour"
        constraints = [models.UniqueConstraint(fields=["name", "hour"], name="mamori_sensor_hour_key")]


class KnownPathRecord(models.Model):
    """A path seen between two segments on a dangerous port (the new-path rule's memory, like Zeek's known
    services): segment names ("" for addresses in no segment), protocol and port, when first and last seen (last seen
    to the hour), and the first connection seen on it."""

    src_segment = models.CharField(max_length=200)
    dst_segment = models.CharField(max_length=200)
    proto = models.CharField(max_length=8)
    port = models.PositiveIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    src_ip = models.CharField(max_length=45, blank=True, default="")
    dst_ip = models.CharField(max_length=45, blank=True, default="")

    class Meta:
        db_table = "mamori_known_path"
        constraints = [
            models.UniqueConstraint(
                fields=["src_segment", "dst_segment", "proto", "port"], name="mamori_known_path_key"
            )
        ]
        indexes = [models.Index(fields=["last_seen"], name="mamori_known_path_seen")]


class LearningStart(models.Model):
    """When a learning rule began to learn (new-path: the first connection between segments ever seen)."""

    rule = models.CharField(max_length=64, unique=True)
    started_at = models.DateTimeField()

    class Meta:
        db_table = "mamori_learning_start"


class ScanRun(models.Model):
    """One run of ``mamori scan``: the scope it was given, how nmap was called, and how it ended."""

    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16)  # ok | failed
    error = models.TextField(blank=True, default="")
    scope = models.JSONField(default=dict)  # targets, exclude, rate, ports, medical_excluded
    argv = models.JSONField(default=list)
    nmap_version = models.CharField(max_length=64, blank=True, default="")
    observer = models.CharField(max_length=45, blank=True, default="")  # the scanning machine's source address
    seconds = models.FloatField(default=0.0)
    hosts_up = models.PositiveIntegerField(default=0)
    hosts_down = models.PositiveIntegerField(default=0)
    alerts = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "mamori_scan_run"
        indexes = [models.Index(fields=["started_at"], name="mamori_scan_run_started")]


class ScanHostRecord(models.Model):
    """A host that was up in a scan run."""

    run = models.ForeignKey(ScanRun, on_delete=models.CASCADE, related_name="hosts")
    address = models.CharField(max_length=45)
    hostname = models.CharField(max_length=255, blank=True, default="")
    mac = models.CharField(max_length=17, blank=True, default="")

    class Meta:
        db_table = "mamori_scan_host"
        indexes = [models.Index(fields=["address", "run"], name="mamori_scan_host_addr")]


class ScanPortRecord(models.Model):
    """A port of a host in a scan run, as nmap saw it, with the judgement made then (``reasons``: new, unneeded,
    database, approved, comma-separated; the checklist report reads them)."""

    host = models.ForeignKey(ScanHostRecord, on_delete=models.CASCADE, related_name="ports")
    proto = models.CharField(max_length=8)
    port = models.PositiveIntegerField()
    state = models.CharField(max_length=32)
    service = models.CharField(max_length=255, blank=True, default="")
    product = models.CharField(max_length=255, blank=True, default="")
    version = models.CharField(max_length=255, blank=True, default="")
    reasons = models.CharField(max_length=64, blank=True, default="")

    class Meta:
        db_table = "mamori_scan_port"


class KnownServiceRecord(models.Model):
    """A service seen answering on the wire (SYN-ACK), like Zeek's known-services: last seen to the hour."""

    host = models.CharField(max_length=45)
    proto = models.CharField(max_length=8)
    port = models.PositiveIntegerField()
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    client = models.CharField(max_length=45, blank=True, default="")  # the first address it was seen answering

    class Meta:
        db_table = "mamori_known_service"
        constraints = [models.UniqueConstraint(fields=["host", "proto", "port"], name="mamori_known_service_key")]
        indexes = [models.Index(fields=["last_seen"], name="mamori_known_service_seen")]


class ExposureApproval(models.Model):
    """A host's approved state: the open ports an administrator accepted (``ports``: "tcp/445"...)."""

    host = models.CharField(max_length=45, unique=True)
    ports = models.JSONField(default=list)
    approved_by = models.CharField(max_length=150)
    approved_at = models.DateTimeField()

    class Meta:
        db_table = "mamori_exposure_approval"


class MaintenanceSessionRecord(models.Model):
    """A remote-maintenance session (a vendor's connections from one place until they stop), alert or not."""

    uid = models.CharField(max_length=64, unique=True)
    vendor = models.CharField(max_length=200, blank=True, default="")
    source = models.CharField(max_length=300)
    start = models.DateTimeField()
    end = models.DateTimeField()
    accounts = models.JSONField(default=list)
    targets = models.JSONField(default=list)
    ports = models.JSONField(default=list)
    via = models.JSONField(default=list)
    plan = models.CharField(max_length=300, blank=True, default="")
    ticket = models.CharField(max_length=200, blank=True, default="")
    differences = models.JSONField(default=list)
    off_plan = models.JSONField(default=list)
    connections = models.BigIntegerField(default=0)
    alert_uid = models.CharField(max_length=64, blank=True, default="")
    ended = models.BooleanField(default=False)
    origin = models.CharField(max_length=32, default="sensor")
    site = models.CharField(max_length=64, blank=True, default="", db_default="")  # central: the sensor's site

    class Meta:
        db_table = "mamori_maintenance_session"
        indexes = [
            models.Index(fields=["start"], name="mamori_mnt_session_start"),
            models.Index(fields=["plan", "start"], name="mamori_mnt_session_plan"),
        ]


class WorkPlanRecord(models.Model):
    """A work plan entered on the dashboard by an administrator (the settings file's plans are not stored)."""

    vendor = models.CharField(max_length=200)
    start = models.DateTimeField()
    end = models.DateTimeField()
    targets = models.JSONField(default=list)
    ports = models.JSONField(default=list)
    accounts = models.JSONField(default=list)
    ticket = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    created_by = models.CharField(max_length=150, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    cancelled = models.BooleanField(default=False)

    class Meta:
        db_table = "mamori_work_plan"
        indexes = [models.Index(fields=["start"], name="mamori_work_plan_start")]


class IncidentRecord(models.Model):
    """Alerts that share a source, an account or a target within a time span (mamori.incidents): one attack told
    as one story. ``status`` is ``open`` while any of its alerts is open or acknowledged, ``closed`` when all are
    resolved or false positives, ``merged`` when an alert linked it to an older incident (``merged_into``), which
    now holds its alerts. ``keys`` are what links its alerts (``ip:``, ``name:``, ``account:``); ``revision`` grows
    with every write, so that each writing process picks up what the others changed."""

    uid = models.CharField(max_length=32, unique=True)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    severity = models.PositiveSmallIntegerField()
    status = models.CharField(max_length=16, default="open")  # open | closed | merged
    alert_count = models.PositiveIntegerField(default=0)
    keys = models.JSONField(default=list)
    merged_into = models.CharField(max_length=32, null=True, blank=True)
    revision = models.BigIntegerField(default=0)
    created_at = models.DateTimeField()
    updated_at = models.DateTimeField()

    class Meta:
        db_table = "mamori_incident"
        indexes = [
            models.Index(fields=["status", "last_seen"], name="mamori_incident_status"),
            models.Index(fields=["revision"], name="mamori_incident_revision"),
            models.Index(fields=["last_seen"], name="mamori_incident_seen"),
        ]


class FlowHour(models.Model):
    """Connections from one segment to another in one hour, by protocol, port and the policy's verdict (the zone
    map's and the dangerous-port matrix's figures). Segment names "" for addresses in no segment; port 0 gathers
    the ports past the detector's per-hour bound. Added to, never rewritten, by every process that counts."""

    hour = models.DateTimeField()
    src_segment = models.CharField(max_length=200)
    dst_segment = models.CharField(max_length=200)
    proto = models.CharField(max_length=8)
    port = models.PositiveIntegerField()
    forbidden = models.BooleanField()
    count = models.BigIntegerField(default=0)
    blocked = models.BigIntegerField(default=0)  # denied by a firewall (its log line said so)
    new = models.BigIntegerField(default=0)  # the first connection ever seen on its path

    class Meta:
        db_table = "mamori_flow_hour"
        constraints = [
            models.UniqueConstraint(
                fields=["hour", "src_segment", "dst_segment", "proto", "port", "forbidden"], name="mamori_flow_hour_key"
            )
        ]


class AssetRecord(models.Model):
    """A device of the asset ledger (2-①), as observed: its MAC, the addresses and services it was seen with, when
    first and last seen; and what a person said of it (confirmed as a known device with a name, or retired)."""

    class Status(models.TextChoices):
        UNREVIEWED = "unreviewed"
        CONFIRMED = "confirmed"
        RETIRED = "retired"

    mac = models.CharField(max_length=17, unique=True)
    ips = models.JSONField(default=list)
    services = models.JSONField(default=list)
    many_ips = models.BooleanField(default=False)
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.UNREVIEWED)
    name = models.CharField(max_length=200, blank=True, default="")
    note = models.TextField(blank=True, default="")
    reviewed_by = models.CharField(max_length=150, blank=True, default="")
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "mamori_asset"
        indexes = [models.Index(fields=["last_seen"], name="mamori_asset_seen")]


class AssetComparison(models.Model):
    """A person compared the ledger with reality (the devices actually there): when, who, and the counts then."""

    ts = models.DateTimeField()
    user = models.CharField(max_length=150)
    devices = models.PositiveIntegerField(default=0)
    unknown = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    note = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_asset_comparison"
        indexes = [models.Index(fields=["ts"], name="mamori_asset_cmp_ts")]


class ChecklistAnswer(models.Model):
    """One confirmed answer of a checklist item (append-only: the newest row of a form and item is the answer;
    the older ones are its history). ``evidence`` keeps the evidence lines the person saw when confirming."""

    form = models.CharField(max_length=200)  # medical | vendor:<vendor name> | heasnet-small
    item = models.CharField(max_length=16)  # the official number, e.g. 2-⑬ or 3-5-1
    answer = models.CharField(max_length=8)  # yes | no
    checked_on = models.DateField()
    target_on = models.DateField(null=True, blank=True)
    answered_by = models.CharField(max_length=150)
    answered_at = models.DateTimeField()
    proposed = models.CharField(max_length=8, blank=True, default="")  # what mamori proposed then
    note = models.TextField(blank=True, default="")
    evidence = models.JSONField(default=list)

    class Meta:
        db_table = "mamori_checklist_answer"
        indexes = [models.Index(fields=["form", "item", "answered_at"], name="mamori_checklist_item")]


class BackupStatusRecord(models.Model):
    """A backup job's state at its latest check (one row per job): the evidence's figures and the rules' verdict
    (``model.BackupStatus``). The checklist's item 3-② reads these (docs/design.md §10)."""

    job = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=16)
    checked_at = models.DateTimeField()
    state = models.CharField(max_length=32)
    expected = models.PositiveIntegerField()
    last_success = models.DateTimeField(null=True)
    generations = models.PositiveIntegerField(null=True)
    oldest = models.DateTimeField(null=True)
    due_at = models.DateTimeField(null=True)
    last_failure = models.DateTimeField(null=True)
    failure = models.CharField(max_length=200, blank=True, default="")
    error = models.TextField(blank=True, default="")
    skipped = models.PositiveIntegerField(default=0)
    source = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_backup_status"


class RestoreTestRecord(models.Model):
    """A restore test recorded by hand: the job, the day, what was restored, by whom (``model.RestoreTest``)."""

    job = models.CharField(max_length=200)
    tested_on = models.DateField()
    what = models.CharField(max_length=500)
    by = models.CharField(max_length=200)
    note = models.TextField(blank=True, default="")
    recorded_at = models.DateTimeField()
    recorded_by = models.CharField(max_length=150, blank=True, default="")

    class Meta:
        db_table = "mamori_restore_test"
        indexes = [models.Index(fields=["job", "tested_on"], name="mamori_restore_test_job")]


class SelfCheckRecord(models.Model):
    """One finding of the last ``mamori doctor`` run (the whole run replaces the table): what was checked, its
    state, what was found and the fix, in Japanese and English. The dashboard's overview shows them."""

    item = models.CharField(max_length=32)  # the check's id (Model.check is taken)
    target = models.CharField(max_length=255, blank=True, default="")
    status = models.CharField(max_length=8)  # ok | problem | warning | skipped
    found_ja = models.TextField()
    found_en = models.TextField()
    fix_ja = models.TextField(blank=True, default="")
    fix_en = models.TextField(blank=True, default="")
    checked_at = models.DateTimeField()

    class Meta:
        db_table = "mamori_self_check"
        ordering = ["id"]


class BlockRow(models.Model):
    """A block (遮断) made, refused, or released: mamori.blocking.BlockRecord in the database."""

    block_id = models.CharField(max_length=32, unique=True)
    method = models.CharField(max_length=16)  # snmp-port | arp-isolate
    action = models.CharField(max_length=64)
    alert_uid = models.CharField(max_length=64)
    rule = models.CharField(max_length=64)
    mac = models.CharField(max_length=17)
    ip = models.CharField(max_length=45, null=True, blank=True)
    state = models.CharField(max_length=16)  # active | dry-run | refused | failed | released
    place = models.CharField(max_length=512, blank=True, default="")
    port_name = models.CharField(max_length=255, blank=True, default="")  # as the switch says it: hostile text
    port_descr = models.CharField(max_length=255, blank=True, default="")
    reason = models.CharField(max_length=32, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField()
    release_at = models.DateTimeField(null=True, blank=True)
    released_at = models.DateTimeField(null=True, blank=True)
    released_by = models.CharField(max_length=150, blank=True, default="")
    release_requested_at = models.DateTimeField(null=True, blank=True)
    release_requested_by = models.CharField(max_length=150, blank=True, default="")
    restore = models.JSONField(default=dict)

    class Meta:
        db_table = "mamori_block"
        indexes = [
            models.Index(fields=["state"], name="mamori_block_state"),
            models.Index(fields=["created_at"], name="mamori_block_created"),
        ]


class InstallationSecret(models.Model):
    """A secret made once per installation (the salt of the password tags of cleartext-credentials)."""

    name = models.CharField(max_length=64, unique=True)
    value = models.BinaryField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "mamori_installation_secret"


class CleartextLoginRecord(models.Model):
    """Logins seen in clear text, one row per (method, client, server, port, account, password tag): checklist
    evidence for cleartext protocols in use (2-⑫) and passwords used on several servers (2-⑧). Never the
    password: ``password_tag`` is the start of its salted hash."""

    protocol = models.CharField(max_length=16)
    client_ip = models.CharField(max_length=45)
    client_mac = models.CharField(max_length=17, blank=True, default="")
    server_ip = models.CharField(max_length=45)
    server_port = models.IntegerField()
    account = models.CharField(max_length=256, blank=True, default="")
    password_tag = models.CharField(max_length=16, blank=True, default="")
    first_seen = models.DateTimeField()
    last_seen = models.DateTimeField()
    logins = models.BigIntegerField(default=0)
    origin = models.CharField(max_length=32, default="sensor")

    class Meta:
        db_table = "mamori_cleartext_login"
        constraints = [
            models.UniqueConstraint(
                fields=["protocol", "client_ip", "server_ip", "server_port", "account", "password_tag"],
                name="mamori_cleartext_login_unique",
            )
        ]
        indexes = [
            models.Index(fields=["last_seen"], name="mamori_cleartext_login_seen"),
            models.Index(fields=["password_tag"], name="mamori_cleartext_login_tag"),
        ]


# -- many sensors, one view (docs/design.md §10, central) ----------------------------------------------------------


class OutboxEntry(models.Model):
    """What a sensor still has to publish to the central server: one row per changed thing (an alert, a source's
    health, a terminal of the ledger, a remote-maintenance session), written by SQLite triggers in the same
    transaction as the change. A newer change of the same thing replaces the row with a higher ``id`` (the message
    sequence), so an outage costs one row per thing. Rows are deleted once JetStream acknowledged them."""

    kind = models.CharField(max_length=16)  # alert | health | terminal | session
    ref = models.CharField(max_length=255)  # the thing's key: alert uid, source name, terminal id, session uid

    class Meta:
        db_table = "mamori_outbox"
        constraints = [models.UniqueConstraint(fields=["kind", "ref"], name="mamori_outbox_kind_ref")]


class OutboxState(models.Model):
    """The outbox's switch and progress (one row): the triggers write only while ``enabled``; ``acked_seq`` is the
    highest sequence JetStream acknowledged."""

    site = models.CharField(max_length=64)
    # this database's own id (random, made when first enabled): message ids are <site>:<box>:<seq>, so two boxes
    # of one site, or a box whose database was made anew, never reuse another's ids inside the duplicate window
    box = models.CharField(max_length=32, default="")
    enabled = models.BooleanField(default=False)
    acked_seq = models.BigIntegerField(default=0)
    published = models.BigIntegerField(default=0)
    last_ack_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_outbox_state"


class CentralSite(models.Model):
    """A site as the central server hears it: its last message and how many were applied."""

    site = models.CharField(max_length=64, unique=True)
    first_message_at = models.DateTimeField()
    last_message_at = models.DateTimeField()
    last_seq = models.BigIntegerField(default=0)
    messages = models.BigIntegerField(default=0)

    class Meta:
        db_table = "mamori_central_site"


class CentralSensorStatus(models.Model):
    """A packet source's health at a site (the sensor's SensorStatus row, as last published)."""

    site = models.CharField(max_length=64)
    name = models.CharField(max_length=255)
    kind = models.CharField(max_length=16)
    started_at = models.DateTimeField()
    updated_at = models.DateTimeField()
    last_packet = models.DateTimeField(null=True, blank=True)
    matched = models.BigIntegerField(default=0)
    decoded = models.BigIntegerField(default=0)
    malformed = models.BigIntegerField(default=0)
    received = models.BigIntegerField(default=0)
    dropped = models.BigIntegerField(default=0)
    if_dropped = models.BigIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "mamori_central_sensor"
        constraints = [models.UniqueConstraint(fields=["site", "name"], name="mamori_central_sensor_site_name")]


class CentralTerminal(models.Model):
    """A terminal of a site's ledger (the sensor's TerminalRecord, by its id there), as last published."""

    site = models.CharField(max_length=64)
    local_id = models.BigIntegerField()
    system = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    mac = models.CharField(max_length=17, null=True, blank=True)
    ip = models.CharField(max_length=45, null=True, blank=True)
    note = models.TextField(blank=True, default="")
    source = models.CharField(max_length=16, default="import")
    updated_at = models.DateTimeField()
    retired_at = models.DateTimeField(null=True, blank=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "mamori_central_terminal"
        constraints = [models.UniqueConstraint(fields=["site", "local_id"], name="mamori_central_terminal_site_id")]


class AuditEntry(models.Model):
    """The audit log (監査ログ): something a person did or tried on the dashboard or the command line, or a block the
    sensor made, refused or released: who, what, on what, from where, when. Written by the dashboard, the CLI and
    the sensor (``mamori watch``), shown to administrators (docs/design.md, blocking: why it is here)."""

    ts = models.DateTimeField(auto_now_add=True)
    user = models.CharField(max_length=150)
    action = models.CharField(max_length=64)
    target = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    ip = models.CharField(max_length=45, blank=True, default="")

    class Meta:
        db_table = "mamori_audit"
        indexes = [models.Index(fields=["ts"], name="mamori_audit_ts")]
