from django.apps import AppConfig


class DistributionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distribution"

    def ready(self):
        from distribution import checks  # noqa: F401  (registers the system checks)
        from distribution.jobs import tasks  # noqa: F401  (registers the Celery tasks in every process)
        from distribution.operators import admin  # noqa: F401  (registers the models with the admin site)
