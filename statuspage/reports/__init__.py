"""Reports built from the incident history: the monthly SLA report (:mod:`statuspage.reports.monthly`)."""
