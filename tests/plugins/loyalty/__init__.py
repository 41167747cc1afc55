"""An example domain, plugged in without editing a core file: loyalty points and badges.

Loaded with `FXCRM_DOMAINS=tests.plugins.loyalty` (or an `fxcrm.domains` entry point):
its models, projections, facts and actions modules are found like a built-in domain's.
A real domain would ship an Alembic revision for its tables; the test creates them
from the metadata.
"""

from engine.domains import Domain

DOMAIN = Domain("loyalty", "tests.plugins.loyalty")
