"""Gateway for Swedish sick-leave and rehabilitation documents.

The package reads the way a message travels: ``documents`` (canonical models) ->
``formats`` (codecs) and ``validation`` -> ``policy`` -> front doors (``cli``).
"""

from importlib.resources import files
from pathlib import Path

__version__ = "0.1.0"


def _data_dir(name: str) -> Path:
    """``schemas/`` or ``mappings/``: package data in an installed wheel (setup.py maps the
    top-level folders into the package), the top-level folder in a source tree or an editable
    install. A real directory either way: lxml resolves our XSDs' imports by relative path."""
    packaged = Path(str(files(__name__))) / name
    return packaged if packaged.is_dir() else Path(__file__).resolve().parent.parent / name


#: Project root of a source tree (fixtures/, docs/); absent from an installed wheel.
PROJECT_ROOT = Path(__file__).resolve().parent.parent
SCHEMAS_DIR = _data_dir("schemas")
MAPPINGS_DIR = _data_dir("mappings")
#: The fixture suite of a source tree; an installed gateway is given `--fixtures DIR`.
FIXTURES_DIR = PROJECT_ROOT / "fixtures"
