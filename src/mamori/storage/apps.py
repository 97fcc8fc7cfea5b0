from django.apps import AppConfig


class StorageConfig(AppConfig):
    name = "mamori.storage"
    label = "storage"
    verbose_name = "mamori storage"
    default_auto_field = "django.db.models.BigAutoField"
