from django.apps import AppConfig


class DistributionConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "distribution"

    def ready(self):
        from . import checks  # noqa: F401  (registers the system checks)
        from .jobs import tasks  # noqa: F401  (connects the job-ended callback receiver in every process)
