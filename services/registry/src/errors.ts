/**
 * Errors as the Confluent registry answers them: an HTTP status and a body `{error_code, message}`.
 * The codes and messages follow Confluent's documentation.
 */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly errorCode: number,
    message: string,
  ) {
    super(message);
  }
}

export const subjectNotFound = (subject: string) =>
  new HttpError(404, 40401, `Subject '${subject}' not found.`);
export const versionNotFound = (version: number | string) =>
  new HttpError(404, 40402, `Version ${version} not found.`);
export const schemaNotFound = (id?: number) =>
  new HttpError(404, 40403, id === undefined ? 'Schema not found' : `Schema ${id} not found`);
export const subjectSoftDeleted = (subject: string) =>
  new HttpError(
    404,
    40404,
    `Subject '${subject}' was soft deleted. Set permanent=true to delete permanently`,
  );
export const subjectNotSoftDeleted = (subject: string) =>
  new HttpError(404, 40405, `Subject '${subject}' was not deleted first before being permanently deleted`);
export const versionSoftDeleted = (subject: string, version: number) =>
  new HttpError(
    404,
    40406,
    `Subject '${subject}' Version ${version} was soft deleted. Set permanent=true to delete permanently`,
  );
export const versionNotSoftDeleted = (subject: string, version: number) =>
  new HttpError(
    404,
    40407,
    `Subject '${subject}' Version ${version} was not deleted first before being permanently deleted`,
  );
export const subjectConfigNotFound = (subject: string) =>
  new HttpError(404, 40408, `Subject '${subject}' does not have subject-level compatibility configured`);
export const incompatible = (message: string) => new HttpError(409, 409, message);
export const invalidSchema = (message: string) => new HttpError(422, 42201, message);
export const invalidVersion = (version: string) =>
  new HttpError(
    422,
    42202,
    `The specified version '${version}' is not a valid version id. Allowed values are between [1, 2^31-1] and the string "latest"`,
  );
export const invalidCompatibility = (value: unknown) =>
  new HttpError(
    422,
    42203,
    `Invalid compatibility level ${JSON.stringify(value)}. Valid values are none, backward, forward, full, and their transitive versions`,
  );
export const storeError = () => new HttpError(500, 50001, 'Error in the backend data store');

/** Postgres text and jsonb cannot hold NUL: a value carrying one is refused, named, before it gets there. */
export function refuseNul(name: string, value: unknown, refuse: (message: string) => Error): void {
  const walk = (v: unknown, at: string): void => {
    if (typeof v === 'string') {
      if (v.includes('\u0000')) throw refuse(`${at} contains a NUL character`);
    } else if (Array.isArray(v)) {
      for (const [i, x] of v.entries()) walk(x, `${at}[${i}]`);
    } else if (v && typeof v === 'object')
      for (const [k, x] of Object.entries(v)) {
        if (k.includes('\u0000')) throw refuse(`${at} has a key with a NUL character`);
        walk(x, `${at}.${k}`);
      }
  };
  walk(value, name);
}
