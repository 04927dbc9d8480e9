"""Gateway for Swedish sick-leave and rehabilitation documents.

The package reads the way a message travels: ``documents`` (canonical models) ->
``formats`` (codecs) and ``validation`` -> ``policy`` -> front doors (``cli``).
"""

from pathlib import Path

__version__ = "0.1.0"

#: Project root: ``schemas/``, ``mappings/`` and ``fixtures/`` live beside the package.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = PROJECT_ROOT / "schemas"
MAPPINGS_DIR = PROJECT_ROOT / "mappings"
FIXTURES_DIR = PROJECT_ROOT / "fixtures"
