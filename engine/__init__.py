"""fxcrm engine: the back office core (events, rules, domains). Imports nothing from web/."""
