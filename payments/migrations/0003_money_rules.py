"""Balances per currency, and refunds the rules open themselves (docs/money.md).

The running totals gain a currency: they are rebuilt from the entries, which always carried theirs.
"""

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


def rebuild_per_currency(apps, schema_editor):
    LedgerEntry = apps.get_model("payments", "LedgerEntry")
    LedgerBalance = apps.get_model("payments", "LedgerBalance")
    LedgerBalance.objects.all().delete()
    rows = (
        LedgerEntry.objects.values("tutor_id", "currency", "account", "kind")
        .annotate(total=models.Sum("amount"), entries=models.Count("id"))
        .order_by()
    )
    LedgerBalance.objects.bulk_create(LedgerBalance(**row) for row in rows)


class Migration(migrations.Migration):

    dependencies = [
        ('payments', '0002_ledger_balance'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name='ledgerbalance',
            name='ledger_balance_unique',
        ),
        migrations.AddField(
            model_name='ledgerbalance',
            name='currency',
            field=models.CharField(default='usd', max_length=3),
        ),
        migrations.RunPython(rebuild_per_currency, migrations.RunPython.noop),
        migrations.AlterField(
            model_name='ledgerbalance',
            name='currency',
            field=models.CharField(max_length=3),
        ),
        migrations.AddField(
            model_name='refund',
            name='origin',
            field=models.CharField(choices=[('request', 'Requested by the student'), ('cancellation', 'Cancellation (automatic)'), ('late_payment', 'Payment for an expired or cancelled booking (automatic)'), ('missed', 'Class not held (for staff review)')], default='request', max_length=16),
        ),
        migrations.AlterField(
            model_name='ledgerbalance',
            name='tutor',
            field=models.ForeignKey(on_delete=django.db.models.deletion.PROTECT, related_name='ledger_balances', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='refund',
            name='requested_by',
            field=models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.PROTECT, related_name='+', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AddConstraint(
            model_name='ledgerbalance',
            constraint=models.UniqueConstraint(fields=('tutor', 'currency', 'account', 'kind'), name='ledger_balance_unique'),
        ),
    ]
