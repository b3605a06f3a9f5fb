import sqlalchemy as sa


def test_fresh_database_is_empty(engine: sa.Engine) -> None:
    assert sa.inspect(engine).get_table_names() == []
