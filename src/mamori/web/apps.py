from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "mamori.web"
    label = "web"
    verbose_name = "mamori dashboard"
    default_auto_field = "django.db.models.BigAutoField"
