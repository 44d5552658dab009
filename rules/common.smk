# Validation, shared paths and input functions. Shipped inputs are found next to the Snakefile;
# everything a study writes lands under the working directory.
from pathlib import Path

from snakemake.exceptions import WorkflowError

from culturalign.config import ConfigError, apply_schema, check_config
from culturalign.items import ItemsError, load_items, select_items

REPO = Path(workflow.basedir)
ITEMS_FILE = REPO / "resources" / "items.yaml"
CONFIG_SOURCE = ", ".join(map(str, workflow.configfiles)) or "config"

try:
    apply_schema(
        config, REPO / "workflow" / "schemas" / "config.schema.yaml", CONFIG_SOURCE
    )
    ITEMS = load_items(ITEMS_FILE)
    check_config(config, ITEMS, CONFIG_SOURCE)
    SCORED_ITEMS = select_items(ITEMS, config["items"])
except (ConfigError, ItemsError) as error:
    raise WorkflowError(str(error)) from None

SURVEY = config["survey"]


report: "../workflow/report/workflow.rst"
