"""Tables, plots and reports: turns results and catalog entries into what people read."""

from optimizer.report.catalog_tables import catalog_table_rows, entry_to_dict, render_rows

__all__ = ["catalog_table_rows", "entry_to_dict", "render_rows"]
