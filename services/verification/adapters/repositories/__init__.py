"""Verification's database, one repository a module: partner records and credentials
(``partners``), households (``households``), recipients and decisions (``recipients``), reports
(``reports``)."""
