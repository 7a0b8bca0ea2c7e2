from django.core.management.base import BaseCommand, CommandError

from payments import ledger


class Command(BaseCommand):
    help = (
        "Check the books: the ledger's running totals equal its entries (--rebuild to repair them), no "
        "balance is below zero, no entry is in another currency than what it moves, and every succeeded "
        "payment is in the ledger or refunded automatically."
    )

    def add_arguments(self, parser):
        parser.add_argument("--rebuild", action="store_true", help="Recompute the totals from the entries.")

    def handle(self, *args, rebuild=False, **options):
        if rebuild:
            ledger.rebuild_balances()
        problems = [f"running total {d}" for d in ledger.verify_balances()] + ledger.audit()
        if problems:
            raise CommandError("the books do not add up:\n" + "\n".join(problems))
        self.stdout.write(self.style.SUCCESS("the books add up: totals, balances, currencies, payments"))
