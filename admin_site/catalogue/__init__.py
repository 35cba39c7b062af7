"""The catalogue that admins curate: intents (with their examples and route), entities (synonyms and
lookup values), each branch's reply templates, and QnA pairs, in one Cosmos DB container.

- `rules`: what may be saved, and how examples are compared and shown (pure);
- `view`: the catalogue as of one stamp, read once and kept with what is derived from it;
- `store`: reading and writing it with ETags, refusing what cannot be used;
- `transfer`: the project's data-set format out (export) and in (import); `store.seed` the demo bot.
"""
from admin_site.catalogue.rules import (
    ENTITY,
    INTENT,
    MAX_EXAMPLES,
    META,
    OOS,
    QNA,
    REPLIES,
    Invalid,
    diff_examples,
    duplicates,
    example_problems,
    format_synonyms,
    intent_in_use,
    name_problem,
    normalise,
    parse_examples,
    parse_lookups,
    parse_synonyms,
    split_annotated,
    strip_entity,
)
from admin_site.catalogue.store import CatalogueStore, Seeded, seed
from admin_site.catalogue.transfer import ImportSummary, dump_yaml, export_document, to_dataset
from admin_site.catalogue.view import CatalogueView

__all__ = [
    "ENTITY", "INTENT", "MAX_EXAMPLES", "META", "OOS", "QNA", "REPLIES", "CatalogueStore", "CatalogueView",
    "ImportSummary", "Invalid", "Seeded", "diff_examples", "dump_yaml", "duplicates", "example_problems",
    "export_document", "format_synonyms", "intent_in_use", "name_problem", "normalise", "parse_examples",
    "parse_lookups", "parse_synonyms", "seed", "split_annotated", "strip_entity", "to_dataset",
]
