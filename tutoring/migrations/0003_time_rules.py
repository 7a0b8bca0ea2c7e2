"""The time rules of docs/money.md: `expired` and `missed`, when a class was held and when its earnings
were released, and free time for expired and refunded bookings in the no-overlap constraint.

Before these rules a class's earnings were released the moment it ended, so every completed booking
is marked released when its release entry was written.
"""

from django.db import migrations, models

FREE_TIME = """
ALTER TABLE tutoring_booking DROP CONSTRAINT IF EXISTS booking_no_overlap;
ALTER TABLE tutoring_booking ADD CONSTRAINT booking_no_overlap
    EXCLUDE USING gist (tutor_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)
    WHERE (status NOT IN ('cancelled', 'expired', 'refunded'));
"""
CANCELLED_ONLY = """
ALTER TABLE tutoring_booking DROP CONSTRAINT IF EXISTS booking_no_overlap;
ALTER TABLE tutoring_booking ADD CONSTRAINT booking_no_overlap
    EXCLUDE USING gist (tutor_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)
    WHERE (status <> 'cancelled');
"""


def constraint(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


def held_and_released(apps, schema_editor):
    Booking = apps.get_model("tutoring", "Booking")
    Session = apps.get_model("live", "Session")
    LedgerEntry = apps.get_model("payments", "LedgerEntry")
    for booking in Booking.objects.filter(status__in=["completed", "refunded"]).iterator():
        session = Session.objects.filter(booking_id=booking.pk).first()
        release = LedgerEntry.objects.filter(booking_id=booking.pk, kind="release").order_by("created_at").first()
        if booking.status == "completed" or session is not None and session.actual_end_time is not None:
            booking.completed_at = (session and session.actual_end_time) or booking.updated_at
        booking.earnings_released_at = release.created_at if release else None
        booking.save(update_fields=["completed_at", "earnings_released_at"])


class Migration(migrations.Migration):

    dependencies = [
        ('tutoring', '0002_booking_no_overlap'),
        ('live', '0001_initial'),
        ('payments', '0002_ledger_balance'),
    ]

    operations = [
        migrations.AddField(
            model_name='booking',
            name='completed_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AddField(
            model_name='booking',
            name='earnings_released_at',
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.AlterField(
            model_name='booking',
            name='status',
            field=models.CharField(choices=[('pending_payment', 'Pending payment'), ('paid', 'Paid'), ('completed', 'Completed'), ('cancelled', 'Cancelled'), ('refunded', 'Refunded'), ('expired', 'Expired (not paid in time)'), ('missed', 'Missed (class not held)')], default='pending_payment', max_length=20),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(fields=['status', 'created_at'], name='booking_status_created'),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(fields=['status', 'end_time'], name='booking_status_end'),
        ),
        migrations.AddIndex(
            model_name='booking',
            index=models.Index(fields=['status', 'completed_at'], name='booking_status_completed'),
        ),
        migrations.RunPython(held_and_released, migrations.RunPython.noop),
        migrations.RunPython(constraint(FREE_TIME), constraint(CANCELLED_ONLY)),
    ]
