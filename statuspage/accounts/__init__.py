"""Customer accounts: who pays for which support tier, how much a month, for which components.

They are imported from a CSV (:mod:`statuspage.accounts.csv_import`) through
:func:`statuspage.accounts.service.import_accounts`, and the monthly report prices the SLA
credits each is owed with them (:mod:`statuspage.reports.credits`).
"""
