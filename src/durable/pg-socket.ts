// The `postgres` driver's TCP socket on workerd, given to it through its `socket` option in place of the package's
// own polyfill (postgres@3.4.9 cf/polyfills.js). Why: when the driver closes a connection itself (idle timeout,
// max lifetime, end()), it first removes its listeners and then closes the socket; the polyfill's pending read then
// fails and it emits 'error' on an EventEmitter with no 'error' listener, which throws inside an async function: an
// unhandled rejection per closed connection (porsager/postgres#1196, #1202), which fails a vitest-pool-workers run
// and is logged as an uncaught error in production. With that bug the pool could not close idle connections, and a
// Durable Object that holds the pool must. This socket has the polyfill's shape (the driver's TLS upgrade,
// `tls.connect` of the same polyfill, uses `raw`, `reader`, `writer`, `read` and `readyState`), and an 'error'
// nobody listens to any more is dropped: the driver has already finished with that socket. The few EventEmitter
// methods the driver calls are implemented here (src/ is typed without Node's declarations).
import { connect } from "cloudflare:sockets";

type Listener = (...args: unknown[]) => void;

/** nodejs_compat's global Buffer: the driver parses messages with Buffer methods (readUInt32BE, …) */
const NodeBuffer = (globalThis as unknown as { Buffer: { from(bytes: Uint8Array): Uint8Array } }).Buffer;

/** on/once/removeListener/removeAllListeners/emit, as node:events has them, minus what the driver never uses */
class Emitter {
  readonly #listeners = new Map<string, { fn: Listener; once: boolean }[]>();

  on(event: string, fn: Listener): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), { fn, once: false }]);
    return this;
  }

  once(event: string, fn: Listener): this {
    this.#listeners.set(event, [...(this.#listeners.get(event) ?? []), { fn, once: true }]);
    return this;
  }

  removeListener(event: string, fn: Listener): this {
    const list = this.#listeners.get(event);
    const i = list ? list.findIndex((l) => l.fn === fn) : -1;
    if (list && i >= 0)
      this.#listeners.set(
        event,
        list.filter((_, k) => k !== i),
      );
    return this;
  }

  removeAllListeners(event?: string): this {
    if (event === undefined) this.#listeners.clear();
    else this.#listeners.delete(event);
    return this;
  }

  listenerCount(event: string): number {
    return this.#listeners.get(event)?.length ?? 0;
  }

  /** An 'error' with no listener is dropped, not thrown (the bug this module exists for). */
  emit(event: string, ...args: unknown[]): boolean {
    const list = this.#listeners.get(event);
    if (!list?.length) return false;
    this.#listeners.set(
      event,
      list.filter((l) => !l.once),
    );
    for (const l of list) l.fn(...args);
    return true;
  }
}

interface DriverOptions {
  host?: readonly string[];
  port?: readonly number[];
  ssl?: unknown;
}

type ReadyState = "opening" | "open" | "upgrading" | "upgrade" | "closed";

export class PgSocket extends Emitter {
  readyState: ReadyState = "opening";
  raw: Socket;
  writer: WritableStreamDefaultWriter<Uint8Array>;
  reader: ReadableStreamDefaultReader<Uint8Array>;
  readonly host: string;
  readonly port: number;
  destroyed = false;

  constructor(host: string, port: number, ssl: boolean) {
    super();
    this.host = host;
    this.port = port;
    this.raw = connect(`${host}:${port}`, { secureTransport: ssl ? "starttls" : "off", allowHalfOpen: false });
    // the plain socket closes when TLS takes over (the driver's tls.connect sets readyState "upgrade" first)
    this.raw.closed.then(
      () => {
        if (this.readyState === "upgrade") {
          this.readyState = "open";
          this.emit("secureConnect");
        } else this.#close();
      },
      (e: unknown) => this.emit("error", e),
    );
    this.writer = this.raw.writable.getWriter();
    this.reader = this.raw.readable.getReader();
    // with TLS the driver reads one byte (the SSLRequest answer) and then hands the reader over to the upgrade
    void (ssl ? this.#readFirst() : this.read());
    this.writer.ready.then(
      () => {
        if (this.readyState === "opening") this.readyState = "open";
        this.emit("connect");
      },
      () => undefined,
    );
  }

  write(data: Uint8Array, cb?: () => void): boolean {
    this.writer.write(data).then(cb, (e: unknown) => this.#error(e));
    return true;
  }

  end(data?: Uint8Array): void {
    if (data) this.write(data, () => void this.raw.close().catch(() => undefined));
    else void this.raw.close().catch(() => undefined);
  }

  destroy(): void {
    this.destroyed = true;
    this.end();
  }

  async read(): Promise<void> {
    try {
      for (;;) {
        const { done, value } = await this.reader.read();
        if (done) break;
        this.emit("data", NodeBuffer.from(value));
      }
    } catch (e) {
      this.#error(e);
    }
  }

  async #readFirst(): Promise<void> {
    try {
      const { value } = await this.reader.read();
      if (value) this.emit("data", NodeBuffer.from(value));
    } catch (e) {
      this.#error(e);
    }
  }

  #close(): void {
    if (this.readyState === "closed") return;
    this.readyState = "closed";
    this.emit("close");
  }

  #error(e: unknown): void {
    this.emit("error", e);
    this.#close();
  }
}

/** The driver's `socket` option: one PgSocket to the first host of the parsed options. */
export function pgSocket(options: DriverOptions): PgSocket {
  const host = options.host?.[0] ?? "localhost";
  const port = options.port?.[0] ?? 5432;
  // the same test as the driver's own (`ssl ? secure() : connected()`): every truthy mode negotiates TLS
  return new PgSocket(host, port, Boolean(options.ssl));
}
