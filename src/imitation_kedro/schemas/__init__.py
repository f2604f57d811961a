"""Table schemas per pipeline, the save-time validator and the data-dictionary generator.

Catalog entries declare ``validator: {class: imitation_kedro.schemas.TableValidator,
options: {table: <name>}}``. Column declarations live in one module per pipeline
(``world``, ``frequency``, ``similarity``, ``threshold``, ``backdoor``).
"""

from imitation_kedro.schemas.columns import Column, TableSchema
from imitation_kedro.schemas.validator import SCHEMAS, SchemaError, TableValidator, validate_table

__all__ = ["SCHEMAS", "Column", "SchemaError", "TableSchema", "TableValidator", "validate_table"]
