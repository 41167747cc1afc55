"""Client facts of the scores domain."""

from engine.facts import fact


@fact("score", "integer", params={"name": "string"}, names={"name": "score"})
def score(session, client, name=None):
    """The client's named score (`client.score(name=aml_risk)`): the sum of the points rules added; 0 with none."""
    from engine.scores import service

    return service.total(session, client.ref, name) if name else None
