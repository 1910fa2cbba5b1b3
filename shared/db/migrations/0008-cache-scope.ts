import { type Kysely, sql } from 'kysely';

/**
 * `api_keys.cache_scope`: which keys share cached answers. NULL — every key until now, and the
 * default for new ones — is a scope of the key's own, so a staging key and a production key (or
 * two customers' keys) never answer each other's prompts; keys created with the same name share.
 */
export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys ADD COLUMN cache_scope text
    CHECK (cache_scope ~ '^[a-z0-9][a-z0-9._-]{0,63}$')`.execute(db);
}

export async function down(db: Kysely<unknown>): Promise<void> {
  await sql`ALTER TABLE api_keys DROP COLUMN cache_scope`.execute(db);
}
