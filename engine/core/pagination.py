"""Pages of the API's lists: `?limit=N&offset=M`, checked, and bounded so the database never sees an overflow."""

from rest_framework import pagination
from rest_framework.exceptions import ValidationError

MAX_LIMIT = 1000
# PostgreSQL's OFFSET is a bigint; any offset past the rows answers an empty page, so larger ones are refused.
MAX_OFFSET = 2**31 - 1


def _bounded_int(value, name, low, high):
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValidationError({name: [f"must be a whole number from {low} to {high}, got {value[:40]!r}."]}) from None
    if not low <= number <= high:
        raise ValidationError({name: [f"must be from {low} to {high}, got {number}."]})
    return number


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """DRF's limit/offset pages, where a limit or offset out of range is a 400 naming it, not a 500 or a silent default.

    DRF passes `?limit=34841511808038473728` to the database, which overflows; it also ignores a
    negative or non-numeric value. Here both parameters are whole numbers within the bounds the
    schema states: 1 <= limit <= MAX_LIMIT (PAGE_SIZE when absent), 0 <= offset <= MAX_OFFSET.
    """

    max_limit = MAX_LIMIT

    def get_limit(self, request):
        value = request.query_params.get(self.limit_query_param)
        if value is None:
            return self.default_limit
        return _bounded_int(value, self.limit_query_param, 1, self.max_limit)

    def get_offset(self, request):
        value = request.query_params.get(self.offset_query_param)
        if value is None:
            return 0
        return _bounded_int(value, self.offset_query_param, 0, MAX_OFFSET)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        bounds = {self.limit_query_param: {"minimum": 1, "maximum": self.max_limit, "default": self.default_limit},
                  self.offset_query_param: {"minimum": 0, "maximum": MAX_OFFSET, "default": 0}}
        for parameter in parameters:
            parameter["schema"].update(bounds.get(parameter["name"], {}))
        return parameters
