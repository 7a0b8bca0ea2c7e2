"""No two non-cancelled bookings of one tutor may overlap: enforced by PostgreSQL itself.

An exclusion constraint over (tutor, [start, end)) turns a race between two booking transactions into
an IntegrityError for the loser. SQLite has no such constraint; there the service's row lock on the
tutor (and SQLite's single writer) does the job.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
ALTER TABLE tutoring_booking ADD CONSTRAINT booking_no_overlap
    EXCLUDE USING gist (tutor_id WITH =, tstzrange(start_time, end_time, '[)') WITH &&)
    WHERE (status <> 'cancelled');
"""
DROP = "ALTER TABLE tutoring_booking DROP CONSTRAINT IF EXISTS booking_no_overlap;"


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tutoring", "0001_initial")]

    operations = [migrations.RunPython(forwards, backwards)]
