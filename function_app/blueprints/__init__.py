"""One Blueprint file per function. `register_all` registers every module's `bp`, so a new file is
registered without touching function_app.py (and the unit tests' pipeline runs the same set)."""
import importlib
import pkgutil

import azure.functions as func


def register_all(app: func.FunctionApp) -> None:
    for module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
        app.register_functions(importlib.import_module(f"{__name__}.{module}").bp)
