from django.core.management.base import BaseCommand, CommandError

from payments import ledger


class Command(BaseCommand):
    help = "Check that the ledger's running totals equal the sums of its entries (--rebuild to repair)."

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Recompute the totals from the entries.")

    def handle(self, *args, rebuild=False, **options):
        if rebuild:
            ledger.rebuild_balances()
        differences = ledger.verify_balances()
        if differences:
            raise CommandError("ledger totals differ from the entries:\n" + "\n".join(differences))
        self.stdout.write(self.style.SUCCESS("ledger totals match the entries"))
