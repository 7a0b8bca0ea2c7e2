"""Reviews' running figures on the tutor profile, the user's language, and the tutor search vector.

On PostgreSQL the search vector is the database's own: triggers rewrite it whenever a tutor's name,
subjects or bio change, whatever writes them (the services, the admin, a script), and a GIN index serves
the search. Name weighs most (A), then subjects (B), then the bio (C). SQLite has no full-text search
of this kind; the column stays empty there and the search is a plain match.
"""

import django.contrib.postgres.search
from django.db import migrations, models

CREATE = """
CREATE OR REPLACE FUNCTION tutoring_tutor_search_document(tutor uuid, bio text) RETURNS tsvector
LANGUAGE sql STABLE AS $$
    SELECT setweight(to_tsvector('english', coalesce((SELECT name FROM tutoring_user WHERE id = tutor), '')), 'A')
        || setweight(to_tsvector('english', coalesce((
               SELECT string_agg(name, ' ' ORDER BY position) FROM tutoring_tutorsubject WHERE tutor_id = tutor
           ), '')), 'B')
        || setweight(to_tsvector('english', coalesce(bio, '')), 'C')
$$;

CREATE OR REPLACE FUNCTION tutoring_tutorprofile_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.search_vector := tutoring_tutor_search_document(NEW.user_id, NEW.bio);
    RETURN NEW;
END $$;
CREATE TRIGGER tutorprofile_search BEFORE INSERT OR UPDATE ON tutoring_tutorprofile
    FOR EACH ROW EXECUTE FUNCTION tutoring_tutorprofile_search();

-- A subject or a name changed: touch the profile, whose own trigger rewrites the vector.
CREATE OR REPLACE FUNCTION tutoring_tutorsubject_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' THEN
        UPDATE tutoring_tutorprofile SET search_vector = NULL WHERE user_id IN (SELECT tutor_id FROM new_rows);
    ELSIF TG_OP = 'DELETE' THEN
        UPDATE tutoring_tutorprofile SET search_vector = NULL WHERE user_id IN (SELECT tutor_id FROM old_rows);
    ELSE
        UPDATE tutoring_tutorprofile SET search_vector = NULL
            WHERE user_id IN (SELECT tutor_id FROM new_rows UNION SELECT tutor_id FROM old_rows);
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER tutorsubject_search_insert AFTER INSERT ON tutoring_tutorsubject
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION tutoring_tutorsubject_search();
CREATE TRIGGER tutorsubject_search_update AFTER UPDATE ON tutoring_tutorsubject
    REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION tutoring_tutorsubject_search();
CREATE TRIGGER tutorsubject_search_delete AFTER DELETE ON tutoring_tutorsubject
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION tutoring_tutorsubject_search();

CREATE OR REPLACE FUNCTION tutoring_user_search() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tutoring_tutorprofile SET search_vector = NULL WHERE user_id = NEW.id;
    RETURN NULL;
END $$;
CREATE TRIGGER user_search AFTER UPDATE OF name ON tutoring_user
    FOR EACH ROW WHEN (OLD.name IS DISTINCT FROM NEW.name) EXECUTE FUNCTION tutoring_user_search();

CREATE INDEX tutorprofile_search ON tutoring_tutorprofile USING gin (search_vector);

-- The list's orders (`?sort=`, tutoring.selectors.TUTOR_SORTS) read a page straight off these.
CREATE INDEX tutor_by_rating ON tutoring_tutorprofile
    (rating DESC NULLS LAST, reviews_count DESC, created_at DESC, user_id DESC);
CREATE INDEX tutor_by_price ON tutoring_tutorprofile (hourly_rate ASC NULLS LAST, created_at DESC, user_id DESC);
CREATE INDEX tutor_by_price_desc ON tutoring_tutorprofile (hourly_rate DESC NULLS LAST, created_at DESC, user_id DESC);
UPDATE tutoring_tutorprofile SET search_vector = NULL;
"""

DROP = """
DROP INDEX IF EXISTS tutorprofile_search, tutor_by_rating, tutor_by_price, tutor_by_price_desc;
DROP TRIGGER IF EXISTS user_search ON tutoring_user;
DROP TRIGGER IF EXISTS tutorsubject_search_insert ON tutoring_tutorsubject;
DROP TRIGGER IF EXISTS tutorsubject_search_update ON tutoring_tutorsubject;
DROP TRIGGER IF EXISTS tutorsubject_search_delete ON tutoring_tutorsubject;
DROP TRIGGER IF EXISTS tutorprofile_search ON tutoring_tutorprofile;
DROP FUNCTION IF EXISTS tutoring_user_search();
DROP FUNCTION IF EXISTS tutoring_tutorsubject_search();
DROP FUNCTION IF EXISTS tutoring_tutorprofile_search();
DROP FUNCTION IF EXISTS tutoring_tutor_search_document(uuid, text);
"""


def forwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE)


def backwards(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP)


class Migration(migrations.Migration):
    dependencies = [("tutoring", "0003_time_rules")]

    operations = [
        migrations.AddField(
            model_name="tutorprofile",
            name="rating",
            field=models.DecimalField(blank=True, decimal_places=1, editable=False, max_digits=2, null=True),
        ),
        migrations.AddField(
            model_name="tutorprofile",
            name="rating_total",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="tutorprofile",
            name="reviews_count",
            field=models.PositiveIntegerField(default=0, editable=False),
        ),
        migrations.AddField(
            model_name="tutorprofile",
            name="search_vector",
            field=django.contrib.postgres.search.SearchVectorField(editable=False, null=True),
        ),
        migrations.AddField(
            model_name="user",
            name="language",
            field=models.CharField(blank=True, default="", max_length=16),
        ),
        migrations.RunPython(forwards, backwards),
    ]
