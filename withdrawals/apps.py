from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    name = "withdrawals"
    default_auto_field = "django.db.models.BigAutoField"
