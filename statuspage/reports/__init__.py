"""Reports built from the incident history: the monthly SLA report (:mod:`statuspage.reports.monthly`,
with :mod:`~statuspage.reports.load`, :mod:`~statuspage.reports.render` and :mod:`~statuspage.reports.slack`;
its figures are worked out in :mod:`statuspage.domain.report`)."""
