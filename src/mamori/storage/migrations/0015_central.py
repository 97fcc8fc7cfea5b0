# Many sensors, one view (issue 14; docs/design.md §10, central): the site columns, the sensor's outbox (filled by
# SQLite triggers in the same transaction as the change), the central server's tables, and on PostgreSQL the
# monthly partitioning of the tables that grow.

from django.db import migrations, models

# -- the sensor's outbox: SQLite triggers (a sensor's store is SQLite; PostgreSQL is the central store) ----------

# (trigger name suffix, table, events, kind, key column)
_OUTBOX_SOURCES = [
    ("alert", "mamori_alert", ("INSERT", "UPDATE"), "alert", "uid"),
    ("health", "mamori_sensor_status", ("INSERT", "UPDATE"), "health", "name"),
    ("terminal", "mamori_terminal", ("INSERT", "UPDATE", "DELETE"), "terminal", "id"),
    ("session", "mamori_maintenance_session", ("INSERT", "UPDATE"), "session", "uid"),
]


def _trigger_names():
    for suffix, table, events, kind, column in _OUTBOX_SOURCES:
        for event in events:
            yield f"mamori_outbox_{suffix}_{event.lower()}", table, event, kind, column


def outbox_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, table, event, kind, column in _trigger_names():
        row = "OLD" if event == "DELETE" else "NEW"
        # DELETE then INSERT, not INSERT OR REPLACE: inside an upsert (INSERT ... ON CONFLICT DO UPDATE, the alert
        # writer's statement) SQLite applies the outer statement's conflict handling to the trigger's insert.
        key = f"{row}.{column}"
        schema_editor.execute(
            f"CREATE TRIGGER {name} AFTER {event} ON {table} "  # noqa: S608 - names from the list above
            "WHEN (SELECT enabled FROM mamori_outbox_state ORDER BY id LIMIT 1) = 1 BEGIN "
            f"DELETE FROM mamori_outbox WHERE kind = '{kind}' AND ref = {key}; "
            f"INSERT INTO mamori_outbox (kind, ref) VALUES ('{kind}', {key}); END"
        )


def drop_outbox_triggers(apps, schema_editor):
    if schema_editor.connection.vendor != "sqlite":
        return
    for name, *_ in _trigger_names():
        schema_editor.execute(f"DROP TRIGGER IF EXISTS {name}")


# -- PostgreSQL: the tables that grow, partitioned by month ----------------------------------------------------------

_PARTITIONED = [("AlertRecord", "first_seen"), ("MaintenanceSessionRecord", "start")]


def partition_tables(apps, schema_editor):
    """Rebuild each growing table as a table partitioned by month on its time column. PostgreSQL requires the
    partition key in every unique constraint: the primary key becomes (id, time) and uid's uniqueness (uid, time);
    the id keeps its own sequence (PostgreSQL 15 has no identity columns on partitioned tables). The indexes
    Django knows are made again on the parent (each partition gets its own). A default partition catches rows of
    a month whose partition was not made yet; the central writer makes the month's partition before writing."""
    if schema_editor.connection.vendor != "postgresql":
        return
    for model_name, column in _PARTITIONED:
        model = apps.get_model("storage", model_name)
        table = model._meta.db_table
        old = f"{table}_unpartitioned"
        run = schema_editor.execute
        run(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        run(f'CREATE TABLE "{table}" (LIKE "{old}" INCLUDING DEFAULTS) PARTITION BY RANGE ("{column}")')
        run(f'CREATE SEQUENCE "{table}_pid_seq" OWNED BY "{table}"."id"')
        run(f'ALTER TABLE "{table}" ALTER COLUMN "id" SET DEFAULT nextval(\'"{table}_pid_seq"\')')
        run(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey_part" PRIMARY KEY ("id", "{column}")')
        run(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_uid_part" UNIQUE ("uid", "{column}")')
        run(f'CREATE TABLE "{table}_default" PARTITION OF "{table}" DEFAULT')
        run(f'INSERT INTO "{table}" SELECT * FROM "{old}"')  # noqa: S608 - table names from the models
        run(f'SELECT setval(\'"{table}_pid_seq"\', COALESCE((SELECT MAX("id") FROM "{table}"), 0) + 1, false)')  # noqa: S608
        run(f'DROP TABLE "{old}"')
        for index in model._meta.indexes:
            schema_editor.add_index(model, index)


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0014_lan"),
    ]

    operations = [
        migrations.CreateModel(
            name="CentralSensorStatus",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("site", models.CharField(max_length=64)),
                ("name", models.CharField(max_length=255)),
                ("kind", models.CharField(max_length=16)),
                ("started_at", models.DateTimeField()),
                ("updated_at", models.DateTimeField()),
                ("last_packet", models.DateTimeField(blank=True, null=True)),
                ("matched", models.BigIntegerField(default=0)),
                ("decoded", models.BigIntegerField(default=0)),
                ("malformed", models.BigIntegerField(default=0)),
                ("received", models.BigIntegerField(default=0)),
                ("dropped", models.BigIntegerField(default=0)),
                ("if_dropped", models.BigIntegerField(default=0)),
                ("error", models.TextField(blank=True, default="")),
            ],
            options={
                "db_table": "mamori_central_sensor",
            },
        ),
        migrations.CreateModel(
            name="CentralSite",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("site", models.CharField(max_length=64, unique=True)),
                ("first_message_at", models.DateTimeField()),
                ("last_message_at", models.DateTimeField()),
                ("last_seq", models.BigIntegerField(default=0)),
                ("messages", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "mamori_central_site",
            },
        ),
        migrations.CreateModel(
            name="CentralTerminal",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("site", models.CharField(max_length=64)),
                ("local_id", models.BigIntegerField()),
                ("system", models.CharField(max_length=200)),
                ("name", models.CharField(max_length=200)),
                ("mac", models.CharField(blank=True, max_length=17, null=True)),
                ("ip", models.CharField(blank=True, max_length=45, null=True)),
                ("note", models.TextField(blank=True, default="")),
                ("source", models.CharField(default="import", max_length=16)),
                ("updated_at", models.DateTimeField()),
                ("retired_at", models.DateTimeField(blank=True, null=True)),
                ("deleted", models.BooleanField(default=False)),
            ],
            options={
                "db_table": "mamori_central_terminal",
            },
        ),
        migrations.CreateModel(
            name="OutboxEntry",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("kind", models.CharField(max_length=16)),
                ("ref", models.CharField(max_length=255)),
            ],
            options={
                "db_table": "mamori_outbox",
            },
        ),
        migrations.CreateModel(
            name="OutboxState",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("site", models.CharField(max_length=64)),
                ("box", models.CharField(default="", max_length=32)),
                ("enabled", models.BooleanField(default=False)),
                ("acked_seq", models.BigIntegerField(default=0)),
                ("published", models.BigIntegerField(default=0)),
                ("last_ack_at", models.DateTimeField(blank=True, null=True)),
                ("last_error", models.TextField(blank=True, default="")),
            ],
            options={
                "db_table": "mamori_outbox_state",
            },
        ),
        migrations.AddField(
            model_name="alertrecord",
            name="site",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddField(
            model_name="maintenancesessionrecord",
            name="site",
            field=models.CharField(blank=True, db_default="", default="", max_length=64),
        ),
        migrations.AddIndex(
            model_name="alertrecord",
            index=models.Index(fields=["site", "last_seen", "severity", "rule", "status"], name="mamori_alert_site_f"),
        ),
        migrations.AddConstraint(
            model_name="centralsensorstatus",
            constraint=models.UniqueConstraint(fields=("site", "name"), name="mamori_central_sensor_site_name"),
        ),
        migrations.AddConstraint(
            model_name="centralterminal",
            constraint=models.UniqueConstraint(fields=("site", "local_id"), name="mamori_central_terminal_site_id"),
        ),
        migrations.AddConstraint(
            model_name="outboxentry",
            constraint=models.UniqueConstraint(fields=("kind", "ref"), name="mamori_outbox_kind_ref"),
        ),
        migrations.RunPython(outbox_triggers, drop_outbox_triggers),
        migrations.RunPython(partition_tables, migrations.RunPython.noop),
    ]
