"""Reports: funnel, payments, IB and operations, as rows for pages, CSV, XLSX and the CLI."""
