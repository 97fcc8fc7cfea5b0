from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0006_incidents"),
    ]

    operations = [
        migrations.CreateModel(
            name="FlowHour",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("hour", models.DateTimeField()),
                ("src_segment", models.CharField(max_length=200)),
                ("dst_segment", models.CharField(max_length=200)),
                ("proto", models.CharField(max_length=8)),
                ("port", models.PositiveIntegerField()),
                ("forbidden", models.BooleanField()),
                ("count", models.BigIntegerField(default=0)),
                ("blocked", models.BigIntegerField(default=0)),
                ("new", models.BigIntegerField(default=0)),
            ],
            options={
                "db_table": "mamori_flow_hour",
                "constraints": [
                    models.UniqueConstraint(
                        fields=("hour", "src_segment", "dst_segment", "proto", "port", "forbidden"),
                        name="mamori_flow_hour_key",
                    )
                ],
            },
        ),
    ]
