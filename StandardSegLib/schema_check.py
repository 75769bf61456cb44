"""Check a JSON document against one of the schemas in Resources/Schemas and name the first offending field.

Validators are built once per schema (``check_schema`` first, so a broken schema fails loudly) with the
draft the schema declares.
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any, Optional

from StandardSegLib.resources import resource_path


def first_schema_problem(document: Any, schema_file: str) -> Optional[str]:
    """``"field 'a/b': <message>"`` for the first error (in field order) of ``document`` against
    ``Resources/Schemas/<schema_file>``, or None when it is valid."""
    errors = sorted(_validator(schema_file).iter_errors(document), key=lambda error: list(error.absolute_path))
    if not errors:
        return None
    where = "/".join(str(part) for part in errors[0].absolute_path) or "(document)"
    return f"field '{where}': {errors[0].message}"


@lru_cache(maxsize=None)
def _validator(schema_file: str) -> Any:
    import jsonschema

    schema = json.loads(resource_path("Schemas", schema_file).read_text(encoding="utf-8"))
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    return validator_class(schema)
