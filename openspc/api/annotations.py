"""Annotation routes (api.md §7): ``/api/v1/characteristics/{characteristic_id}/annotations``.

Writes need supervisor at any plant (before validation) and supervisor at the
characteristic's plant; reads need operator there.
"""

from __future__ import annotations

from flask.views import MethodView

from openspc.api.blueprint import Blueprint
from openspc.api.schemas.annotations import (
    AnnotationCreateSchema,
    AnnotationQuerySchema,
    AnnotationResponseSchema,
    AnnotationUpdateSchema,
)
from openspc.auth.current import current_user
from openspc.auth.roles import login_required, require_role
from openspc.services import annotations as service
from openspc.services.ownership import authorize_characteristic

blp = Blueprint(
    "annotations", __name__, url_prefix="/api/v1/characteristics",
    description="Chart annotations",
)


@blp.route("/<int:characteristic_id>/annotations")
class Annotations(MethodView):
    @login_required
    @blp.arguments(AnnotationQuerySchema, location="query")
    @blp.response(200, AnnotationResponseSchema(many=True))
    def get(self, query, characteristic_id):
        characteristic = authorize_characteristic(current_user(), characteristic_id, "operator")
        return service.list_annotations(characteristic, query.get("annotation_type"))

    @require_role("supervisor")
    @blp.arguments(AnnotationCreateSchema)
    @blp.response(201, AnnotationResponseSchema)
    def post(self, data, characteristic_id):
        user = current_user()
        characteristic = authorize_characteristic(user, characteristic_id, "supervisor")
        return service.create_annotation(characteristic, data, user.username)


@blp.route("/<int:characteristic_id>/annotations/<int:annotation_id>")
class AnnotationItem(MethodView):
    @require_role("supervisor")
    @blp.arguments(AnnotationUpdateSchema)
    @blp.response(200, AnnotationResponseSchema)
    def put(self, data, characteristic_id, annotation_id):
        user = current_user()
        characteristic = authorize_characteristic(user, characteristic_id, "supervisor")
        return service.update_annotation(characteristic, annotation_id, data, user.username)

    @require_role("supervisor")
    @blp.response(204)
    def delete(self, characteristic_id, annotation_id):
        characteristic = authorize_characteristic(current_user(), characteristic_id, "supervisor")
        service.delete_annotation(characteristic, annotation_id)
