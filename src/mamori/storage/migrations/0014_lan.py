# LAN threats (issue 16): the installation's secrets and the logins seen in clear text.

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("storage", "0013_blocks"),  # on main; the merger re-points the chain
    ]

    operations = [
        migrations.CreateModel(
            name="InstallationSecret",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("name", models.CharField(max_length=64, unique=True)),
                ("value", models.BinaryField()),
                ("created_at", models.DateTimeField(auto_now_add=True)),
            ],
            options={"db_table": "mamori_installation_secret"},
        ),
        migrations.CreateModel(
            name="CleartextLoginRecord",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("protocol", models.CharField(max_length=16)),
                ("client_ip", models.CharField(max_length=45)),
                ("client_mac", models.CharField(blank=True, default="", max_length=17)),
                ("server_ip", models.CharField(max_length=45)),
                ("server_port", models.IntegerField()),
                ("account", models.CharField(blank=True, default="", max_length=256)),
                ("password_tag", models.CharField(blank=True, default="", max_length=16)),
                ("first_seen", models.DateTimeField()),
                ("last_seen", models.DateTimeField()),
                ("logins", models.BigIntegerField(default=0)),
                ("origin", models.CharField(default="sensor", max_length=32)),
            ],
            options={
                "db_table": "mamori_cleartext_login",
                "indexes": [
                    models.Index(fields=["last_seen"], name="mamori_cleartext_login_seen"),
                    models.Index(fields=["password_tag"], name="mamori_cleartext_login_tag"),
                ],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("protocol", "client_ip", "server_ip", "server_port", "account", "password_tag"),
                        name="mamori_cleartext_login_unique",
                    )
                ],
            },
        ),
    ]
