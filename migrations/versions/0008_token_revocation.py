"""Token revocation: refresh-token families, the users' access-token version, final API-key
revocation.

``refresh_token.family_id`` groups the tokens rotated from one login, so that logout and a
detected theft revoke that session only; tokens issued before this revision each become a
family of their own. ``rotated_at``/``replaced_by`` let a token rotated a moment ago be
answered again with its successor (concurrent refreshes) instead of being taken for a theft.
``user.token_version`` is carried by access tokens and raised to end them all.
``api_keys.revoked_at`` marks an admin's revocation, which PATCH cannot undo.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 15:30:00.000000

"""
import sqlalchemy as sa
from alembic import op

from openspc.models.types import UTCDateTime


# revision identifiers, used by Alembic.
revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('user', sa.Column('token_version', sa.Integer(), server_default='0',
                                    nullable=False))
    op.add_column('api_keys', sa.Column('revoked_at', UTCDateTime(), nullable=True))
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.add_column(sa.Column('family_id', sa.String(length=36), nullable=True))
        batch_op.add_column(sa.Column('rotated_at', UTCDateTime(), nullable=True))
        batch_op.add_column(sa.Column('replaced_by', sa.String(length=36), nullable=True))
    op.execute('UPDATE refresh_token SET family_id = jti')
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.alter_column('family_id', existing_type=sa.String(length=36), nullable=False)
        batch_op.create_index(batch_op.f('ix_refresh_token_family_id'), ['family_id'],
                              unique=False)


def downgrade():
    with op.batch_alter_table('refresh_token', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_refresh_token_family_id'))
        batch_op.drop_column('replaced_by')
        batch_op.drop_column('rotated_at')
        batch_op.drop_column('family_id')
    # Plain DROP COLUMN (SQLite >= 3.35): a batch copy of "user" would drop the table, and
    # with foreign keys on, SQLite would cascade that to every row that refers to a user.
    op.drop_column('api_keys', 'revoked_at')
    op.drop_column('user', 'token_version')
