// The embedded PGlite is one Postgres session. kysely-pglite hands that one session to every caller
// at once, so a query issued while another caller's transaction is open runs inside it and vanishes
// with its ROLLBACK. Here a caller holds the session from acquire to release (a whole transaction),
// and the others wait their turn, as they would for a pool of one connection.
import type { PGlite } from '@electric-sql/pglite';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type Dialect,
  type Driver,
  type Kysely,
  type QueryResult,
} from 'kysely';

class PGliteSession implements DatabaseConnection {
  private readonly client: PGlite;
  constructor(client: PGlite) {
    this.client = client;
  }

  async executeQuery<R>(query: CompiledQuery): Promise<QueryResult<R>> {
    const res = await this.client.query<R>(query.sql, [...query.parameters]);
    // Kysely reads numAffectedRows (numUpdatedRows, numDeletedRows); PGlite calls it affectedRows.
    return { rows: res.rows, ...(res.affectedRows !== undefined ? { numAffectedRows: BigInt(res.affectedRows) } : {}) };
  }

  // eslint-disable-next-line require-yield
  async *streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    throw new Error('PGlite does not stream query results');
  }
}

class SerializedPGliteDriver implements Driver {
  private readonly session: PGliteSession;
  private readonly client: PGlite;
  private queue: Promise<void> = Promise.resolve();
  private release: (() => void) | null = null;

  constructor(client: PGlite) {
    this.client = client;
    this.session = new PGliteSession(client);
  }

  async init(): Promise<void> {}

  async acquireConnection(): Promise<DatabaseConnection> {
    const previous = this.queue;
    let release!: () => void;
    this.queue = new Promise<void>((r) => (release = r));
    await previous;
    this.release = release;
    return this.session;
  }

  async releaseConnection(): Promise<void> {
    const release = this.release;
    this.release = null;
    release?.();
  }

  async beginTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('begin'));
  }

  async commitTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('commit'));
  }

  async rollbackTransaction(conn: DatabaseConnection): Promise<void> {
    await conn.executeQuery(CompiledQuery.raw('rollback'));
  }

  async destroy(): Promise<void> {
    await this.client.close();
  }
}

export function pgliteDialect(client: PGlite): Dialect {
  return {
    createAdapter: () => new PostgresAdapter(),
    createDriver: () => new SerializedPGliteDriver(client),
    createIntrospector: (db: Kysely<unknown>) => new PostgresIntrospector(db),
    createQueryCompiler: () => new PostgresQueryCompiler(),
  };
}
