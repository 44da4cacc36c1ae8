/**
 * A small decoder toolkit: every value that crosses the network is checked
 * against a decoder before the rest of the client sees it, so views and reducers
 * can trust their types. Unknown extra fields are ignored (the server may add
 * fields without breaking older clients); missing or wrong-typed ones are errors.
 */

export class DecodeError extends Error {
  constructor(
    readonly path: string,
    readonly expected: string,
  ) {
    super(`${path || "value"}: expected ${expected}`);
    this.name = "DecodeError";
  }
}

export type Decoder<T> = (value: unknown, path: string) => T;

export type Decoded<D> = D extends Decoder<infer T> ? T : never;

export function decode<T>(decoder: Decoder<T>, value: unknown): T {
  return decoder(value, "");
}

export const str: Decoder<string> = (v, path) => {
  if (typeof v !== "string") throw new DecodeError(path, "string");
  return v;
};

export const num: Decoder<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isFinite(v)) throw new DecodeError(path, "number");
  return v;
};

export const int: Decoder<number> = (v, path) => {
  if (typeof v !== "number" || !Number.isInteger(v)) throw new DecodeError(path, "integer");
  return v;
};

export const bool: Decoder<boolean> = (v, path) => {
  if (typeof v !== "boolean") throw new DecodeError(path, "boolean");
  return v;
};

/** Any JSON value, kept as it is (for structured content such as incident data). */
export const json: Decoder<unknown> = (v) => v;

export function oneOf<const T extends readonly string[]>(...values: T): Decoder<T[number]> {
  return (v, path) => {
    if (typeof v !== "string" || !values.includes(v)) {
      throw new DecodeError(path, `one of ${values.join(", ")}`);
    }
    return v as T[number];
  };
}

export function literal<const T extends string>(value: T): Decoder<T> {
  return (v, path) => {
    if (v !== value) throw new DecodeError(path, JSON.stringify(value));
    return value;
  };
}

export function nullable<T>(decoder: Decoder<T>): Decoder<T | null> {
  return (v, path) => (v === null || v === undefined ? null : decoder(v, path));
}

/** A field that may be absent; absent and null both decode to the fallback. */
export function withDefault<T>(decoder: Decoder<T>, fallback: () => T): Decoder<T> {
  return (v, path) => (v === null || v === undefined ? fallback() : decoder(v, path));
}

export function optional<T>(decoder: Decoder<T>): Decoder<T | undefined> {
  return (v, path) => (v === undefined ? undefined : decoder(v, path));
}

export function array<T>(decoder: Decoder<T>): Decoder<T[]> {
  return (v, path) => {
    if (!Array.isArray(v)) throw new DecodeError(path, "array");
    return v.map((item, i) => decoder(item, `${path}[${i}]`));
  };
}

export function record<T>(decoder: Decoder<T>): Decoder<Record<string, T>> {
  return (v, path) => {
    if (!isPlainObject(v)) throw new DecodeError(path, "object");
    const out: Record<string, T> = {};
    for (const [key, item] of Object.entries(v)) {
      out[key] = decoder(item, `${path}.${key}`);
    }
    return out;
  };
}

type Shape = Record<string, Decoder<unknown>>;
type ShapeOf<S extends Shape> = { [K in keyof S]: Decoded<S[K]> };

export function object<S extends Shape>(shape: S): Decoder<ShapeOf<S>> {
  return (v, path) => {
    if (!isPlainObject(v)) throw new DecodeError(path, "object");
    const out: Record<string, unknown> = {};
    for (const [key, decoder] of Object.entries(shape)) {
      out[key] = decoder(v[key], path ? `${path}.${key}` : key);
    }
    return out as ShapeOf<S>;
  };
}

export function map<A, B>(decoder: Decoder<A>, fn: (a: A) => B): Decoder<B> {
  return (v, path) => fn(decoder(v, path));
}

export function union<T>(...decoders: Decoder<T>[]): Decoder<T> {
  return (v, path) => {
    const reasons: string[] = [];
    for (const d of decoders) {
      try {
        return d(v, path);
      } catch (err) {
        if (!(err instanceof DecodeError)) throw err;
        reasons.push(err.expected);
      }
    }
    throw new DecodeError(path, reasons.join(" | "));
  };
}

export function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
