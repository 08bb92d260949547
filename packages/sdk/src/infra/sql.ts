/**
 * The SQL surface services and owners write with: SDK-owned, so no driver type is part of the public face.
 * Rows are typed by the caller (`query<{ id: number }>(…)`); values are always parameters ($1, $2), never
 * spliced into the text. pg's Pool and PoolClient satisfy these structurally.
 */
export interface SqlResult<R> {
  rows: R[];
  rowCount: number | null;
}

export interface Sql {
  // biome-ignore lint/suspicious/noExplicitAny: rows are whatever the caller's SELECT returns
  query<R extends { [column: string]: any } = { [column: string]: unknown }>(
    text: string,
    values?: unknown[],
  ): Promise<SqlResult<R>>;
}

/** One connection: what a transaction runs on. */
export interface SqlClient extends Sql {
  release(error?: Error | boolean): void;
}

/** A pool of connections. */
export interface SqlPool extends Sql {
  connect(): Promise<SqlClient>;
  end(): Promise<void>;
}
