"""Properties checked on the model (SEMANTICS.md section 8), kept apart from the model."""

from .properties import (
    MEANINGS,
    Property,
    Props,
    properties_for,
    spec_error_property,
    z3_encodings,
)

__all__ = ["MEANINGS", "Property", "Props", "properties_for", "spec_error_property",
           "z3_encodings"]
