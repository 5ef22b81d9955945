"""Compile-once statements for the API's hot paths: a joined fetch, an update, an insert.

The ORM compiles every query anew, and for a claim or a submit that costs more CPU than the
database spends answering it (a claim's select_related over seven tables took ~10 ms of
Python). These helpers build each statement once per shape from the models' metadata and
then only bind parameters:

- `Fetch` is select_related by primary key: rows come back as ordinary model instances,
  made by `Model.from_db` after the same converters the ORM applies, and the related
  instances are cached on them as select_related would cache them;
- `update` and `insert` write through each field's own `pre_save` and `get_db_prep_save`,
  so they store exactly what `save()` would store.

On PostgreSQL they run on a server-side binding cursor, so PostgreSQL prepares each
statement after a few runs on a connection (DATABASES OPTIONS prepare_threshold) and stops
parsing and planning it anew: a claim's eight-table join cost more to plan than to run.
The rest of the ORM keeps Django's client-side binding.

They send no model signals: use them only for models that have no save receivers (the
tests check that the models used here have none).
"""

from contextlib import contextmanager
from functools import lru_cache

from django.db import connections, router


class Fetch:
    """One model by primary key with related rows joined in, like `select_related(*paths).get(pk=…)`.

    `paths` are select_related paths ("image", "candidate_set__iteration", "alignment__candidate");
    forward foreign keys, forward one-to-one and reverse one-to-one relations may be followed.
    """

    def __init__(self, model, *paths, for_update=False):
        self.model = model
        self.paths = paths
        self.for_update = for_update

    def get(self, pk, using=None):
        """Return the instance with related instances cached, or None if no row has this pk."""
        using = using or (router.db_for_write(self.model) if self.for_update else router.db_for_read(self.model))
        plan = _fetch_plan(self.model, self.paths, self.for_update, using)
        return self._one(plan, plan.sql, [pk], using)

    def select_from(self, source, using):
        """Return `SELECT … FROM source t0 LEFT OUTER JOIN …`: the joins of this fetch over a named source.

        `source` names a table expression with every column of the model's table, such as a
        WITH query's `UPDATE … RETURNING *`; put the WITH clause in front of this text and run
        it with `first`. So one statement can write rows and return them with their relations.
        """
        return _fetch_plan(self.model, self.paths, False, using).select_from(source)

    def first(self, sql, params, using):
        """Run a statement made with `select_from`; return its first row as an instance, or None."""
        return self._one(_fetch_plan(self.model, self.paths, False, using), sql, params, using)

    def _one(self, plan, sql, params, using):
        connection = connections[using]
        with cursor(using) as c:
            c.execute(sql, params)
            row = c.fetchone()
        if row is None:
            return None
        made = {}
        for node in plan.nodes:
            values = row[node.start:node.start + len(node.fields)]
            if values[node.pk_index] is None:
                instance = None  # an outer join that found no row
            else:
                values = [_convert(v, convs, connection) for v, convs in zip(values, node.converters, strict=True)]
                instance = node.model.from_db(using, node.names, values)
            made[node.alias] = instance
            if node.parent is not None and made[node.parent] is not None:
                node.link(made[node.parent], instance)
        return made[plan.nodes[0].alias]


@contextmanager
def cursor(using):
    """A cursor of the `using` database for these statements (server-side binding on PostgreSQL).

    On PostgreSQL one cursor is kept per connection and reused, wrapped like any Django cursor
    (execute wrappers, error translation, the broken-transaction check). While queries are
    logged (DEBUG, assertNumQueries) Django's own cursor is used, so the log shows the SQL.
    """
    connection = connections[using]
    if connection.vendor != "postgresql" or connection.queries_logged:
        with connection.cursor() as c:
            yield c
        return
    connection.ensure_connection()
    kept = getattr(connection, "_engine_rows_cursor", None)
    if kept is None or kept[0] is not connection.connection or kept[1].cursor.closed:
        from django.db.backends.postgresql.base import ServerBindingCursor

        with connection.wrap_database_errors:
            raw = ServerBindingCursor(connection.connection)
        kept = connection._engine_rows_cursor = (connection.connection, connection.make_cursor(raw))
    yield kept[1]


def update(instance, fields, using=None):
    """UPDATE the named fields of one saved instance (as save(update_fields=…) would); return rows changed."""
    model = type(instance)
    using = using or router.db_for_write(model, instance=instance)
    connection = connections[using]
    sql, targets = _update_plan(model, tuple(fields), using)
    params = [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in targets]
    with cursor(using) as c:
        c.execute(sql, [*params, instance.pk])
        return c.rowcount


def update_all(changes, using=None):
    """UPDATE several saved instances, each (instance, fields) as `update` would; one statement on PostgreSQL.

    PostgreSQL runs every data-modifying part of a WITH query, so the updates travel and run
    as one statement (one round trip instead of one each); elsewhere they run one by one.
    Each change must be to a different row: PostgreSQL leaves two writes to one row in one
    statement undefined.
    """
    changes = [(instance, tuple(fields)) for instance, fields in changes]
    using = using or router.db_for_write(type(changes[0][0]), instance=changes[0][0])
    connection = connections[using]
    if connection.vendor != "postgresql" or len(changes) == 1:
        for instance, fields in changes:
            update(instance, fields, using)
        return
    sql, plans = _update_all_plan(tuple((type(instance), fields) for instance, fields in changes), using)
    params = []
    for (instance, _), (_, targets) in zip(changes, plans, strict=True):
        params += [f.get_db_prep_save(f.pre_save(instance, False), connection) for f in targets]
        params.append(instance.pk)
    with cursor(using) as c:
        c.execute(sql, params)


def insert(instance, using=None):
    """INSERT one new instance (defaults, auto_now_add and all, as save() would) and set its pk."""
    model = type(instance)
    using = using or router.db_for_write(model, instance=instance)
    connection = connections[using]
    sql, targets = _insert_plan(model, using)
    params = [f.get_db_prep_save(f.pre_save(instance, True), connection) for f in targets]
    with cursor(using) as c:
        c.execute(sql, params)
        if connection.features.can_return_columns_from_insert:
            pk = c.fetchone()[0]
        else:
            pk = connection.ops.last_insert_id(c, model._meta.db_table, model._meta.pk.column)
    instance.pk = pk
    instance._state.adding = False
    instance._state.db = using
    return instance


# --- Plans, built once per shape -------------------------------------------------------------

class _Node:
    def __init__(self, model, alias, parent, link, start, connection):
        self.model = model
        self.alias = alias
        self.parent = parent
        self.link = link
        self.start = start
        self.fields = list(model._meta.concrete_fields)
        self.names = [f.attname for f in self.fields]
        self.pk_index = self.fields.index(model._meta.pk)
        self.converters = []
        for field in self.fields:
            col = field.get_col(alias)
            # The ORM's order: the backend's converters, then the field's; each gets its column.
            self.converters.append(
                [(fn, col) for fn in (*connection.ops.get_db_converters(col), *field.get_db_converters(connection))]
            )


class _Plan:
    def __init__(self, columns, joins, table, nodes):
        self.columns = columns
        self.joins = joins
        self.nodes = nodes
        self.sql = f"SELECT {columns} FROM {table} t0 {joins}"

    def select_from(self, source):
        return f"SELECT {self.columns} FROM {source} t0 {self.joins}"


def _forward(field):
    def link(parent, child):
        field.set_cached_value(parent, child)
        if child is not None and field.one_to_one:
            field.remote_field.set_cached_value(child, parent)
    return link


def _reverse(rel):
    def link(parent, child):
        rel.set_cached_value(parent, child)  # None caches "no such row", as select_related does
        if child is not None:
            rel.field.set_cached_value(child, parent)
    return link


@lru_cache(maxsize=64)
def _fetch_plan(model, paths, for_update, using):
    connection = connections[using]
    quote = connection.ops.quote_name
    nodes = [_Node(model, "t0", None, None, 0, connection)]
    joins = []
    by_path = {"": nodes[0]}
    for path in paths:
        prefix = ""
        for name in path.split("__"):
            parent = by_path[prefix]
            prefix = f"{prefix}__{name}" if prefix else name
            if prefix in by_path:
                continue
            field = parent.model._meta.get_field(name)
            alias = f"t{len(nodes)}"
            start = nodes[-1].start + len(nodes[-1].fields)
            if field.concrete and (field.many_to_one or field.one_to_one):
                related = field.related_model
                on = f"{alias}.{quote(related._meta.pk.column)} = {parent.alias}.{quote(field.column)}"
                link = _forward(field)
            elif field.one_to_one and not field.concrete:  # a reverse one-to-one
                related = field.related_model
                on = f"{alias}.{quote(field.field.column)} = {parent.alias}.{quote(parent.model._meta.pk.column)}"
                link = _reverse(field)
            else:
                raise ValueError(f"{model.__name__}: cannot join {path!r} (only to-one relations)")
            node = _Node(related, alias, parent.alias, link, start, connection)
            nodes.append(node)
            by_path[prefix] = node
            joins.append(f"LEFT OUTER JOIN {quote(related._meta.db_table)} {alias} ON {on}")
    columns = ", ".join(f"{n.alias}.{quote(f.column)}" for n in nodes for f in n.fields)
    plan = _Plan(columns, " ".join(joins), quote(model._meta.db_table), nodes)
    plan.sql += f" WHERE t0.{quote(model._meta.pk.column)} = %s"
    if for_update and connection.features.has_select_for_update:
        # Lock the base row only: the joined rows are read, not written.
        plan.sql += " FOR UPDATE OF t0" if connection.features.has_select_for_update_of else " FOR UPDATE"
    return plan


@lru_cache(maxsize=64)
def _update_plan(model, names, using):
    quote = connections[using].ops.quote_name
    targets = [model._meta.get_field(name) for name in names]
    sets = ", ".join(f"{quote(f.column)} = %s" for f in targets)
    return (f"UPDATE {quote(model._meta.db_table)} SET {sets} WHERE {quote(model._meta.pk.column)} = %s", targets)


@lru_cache(maxsize=64)
def _update_all_plan(shapes, using):
    plans = [_update_plan(model, names, using) for model, names in shapes]
    parts = [f"u{i} AS ({sql})" for i, (sql, _) in enumerate(plans[:-1])]
    return f"WITH {', '.join(parts)} {plans[-1][0]}", plans


@lru_cache(maxsize=64)
def _insert_plan(model, using):
    connection = connections[using]
    quote = connection.ops.quote_name
    targets = [f for f in model._meta.concrete_fields if not f.primary_key]
    columns = ", ".join(quote(f.column) for f in targets)
    marks = ", ".join(["%s"] * len(targets))
    sql = f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({marks})"
    if connection.features.can_return_columns_from_insert:
        sql += f" RETURNING {quote(model._meta.pk.column)}"
    return sql, targets


def _convert(value, converters, connection):
    for converter, col in converters:
        value = converter(value, col, connection)
    return value
