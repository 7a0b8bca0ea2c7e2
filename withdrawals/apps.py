from django.apps import AppConfig


class WithdrawalsConfig(AppConfig):
    name = "withdrawals"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self):
        from withdrawals import webhooks  # noqa: F401  (registers the Stripe event handlers)
