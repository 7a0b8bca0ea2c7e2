from django.apps import AppConfig


class TutoringConfig(AppConfig):
    name = "tutoring"
    verbose_name = "Tutoring"
    default_auto_field = "django.db.models.BigAutoField"
