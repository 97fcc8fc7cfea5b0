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
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

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
