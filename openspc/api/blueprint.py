"""The Blueprint every resource module uses: our parser, hence our 422 shape."""

import flask_smorest

from openspc.api.parser import ApiParser


class Blueprint(flask_smorest.Blueprint):
    ARGUMENTS_PARSER = ApiParser()
