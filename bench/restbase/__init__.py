"""The reference the REST benchmark (`bench/rest_bench.py`) measures the API against: bare DRF views with
simplejwt, served by the same gunicorn as the product (settings `bench.restbase.settings`)."""
