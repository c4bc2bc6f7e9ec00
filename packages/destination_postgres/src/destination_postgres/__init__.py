"""destination_postgres: typed tables from the catalog, COPY + merge, data and checkpoint in one transaction."""

from ._config import PostgresConfig
from ._connector import PostgresDestination
from ._errors import map_psycopg_errors
from ._state_table import GLOBAL_KEY, stream_key
from ._types import pg_type_for

__all__ = ["GLOBAL_KEY", "PostgresConfig", "PostgresDestination", "map_psycopg_errors", "pg_type_for", "stream_key"]
