/**
 * Headless Chromium for tests: opens a local HTML file in Debian's `chromium`, sets the window size,
 * takes screenshots and measures the page's layout, through Chrome's DevTools protocol on a websocket
 * to 127.0.0.1 (no npm browser download, no network: the browser runs with a new empty profile and
 * every background service off).
 *
 * @example
 * ```ts
 * await using browser = await HeadlessChromium.launch();
 * const page = await browser.open("results/report.html", { width: 1280, height: 900 });
 * const [title] = await page.boxes("h1");
 * console.log(title.top, title.bottom, (await page.documentSize()).height);
 * await Deno.writeFile("report.png", await page.screenshot());
 * ```
 *
 * @module
 */
import { pathToFileURL } from "node:url";
import { resolve } from "../src/util/path.ts";

/** An element's border box in CSS pixels, relative to the top-left corner of the document. */
export interface Box {
  top: number;
  bottom: number;
  left: number;
  right: number;
  width: number;
  height: number;
}

/** The window (viewport) size in CSS pixels; screenshots are taken at 1 device pixel per CSS pixel. */
export interface Viewport {
  width: number;
  height: number;
}

/** The flags of every launch: headless, no sandbox (root in CI), nothing that reaches the network. */
export const CHROMIUM_FLAGS: readonly string[] = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--hide-scrollbars",
  "--force-device-scale-factor=1",
];

/** How long any one browser operation may take before it fails (a loaded 2-core CI machine). */
const TIMEOUT_MS = 60_000;

type Message = {
  id?: number;
  method?: string;
  params?: Record<string, unknown>;
  result?: Record<string, unknown>;
  error?: { message: string };
  sessionId?: string;
};

function withTimeout<T>(promise: Promise<T>, what: string, ms = TIMEOUT_MS): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`headless Chromium: ${what} took more than ${ms / 1000} s`)),
      ms,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** A DevTools protocol connection: commands answered by id, events waited for by name. */
class DevToolsConnection {
  #socket: WebSocket;
  #nextId = 1;
  #pending = new Map<number, { resolve: (m: Message) => void; reject: (e: Error) => void }>();
  #waiters: { method: string; sessionId?: string; resolve: (m: Message) => void }[] = [];
  #closed: Promise<void>;

  private constructor(socket: WebSocket) {
    this.#socket = socket;
    socket.onmessage = (event) => {
      const message = JSON.parse(event.data as string) as Message;
      if (message.id !== undefined) {
        const pending = this.#pending.get(message.id);
        this.#pending.delete(message.id);
        if (message.error) pending?.reject(new Error(`headless Chromium: ${message.error.message}`));
        else pending?.resolve(message);
        return;
      }
      const index = this.#waiters.findIndex((w) =>
        w.method === message.method && (w.sessionId === undefined || w.sessionId === message.sessionId)
      );
      if (index >= 0) this.#waiters.splice(index, 1)[0].resolve(message);
    };
    this.#closed = new Promise((resolve) => {
      socket.onclose = () => {
        for (const { reject } of this.#pending.values()) {
          reject(new Error("headless Chromium: connection closed"));
        }
        this.#pending.clear();
        resolve();
      };
    });
  }

  static async open(url: string): Promise<DevToolsConnection> {
    const socket = new WebSocket(url);
    await withTimeout(
      new Promise<void>((resolve, reject) => {
        socket.onopen = () => resolve();
        socket.onerror = (event) =>
          reject(new Error(`headless Chromium: cannot connect to ${url}: ${event}`));
      }),
      "connecting to DevTools",
    );
    return new DevToolsConnection(socket);
  }

  /** Sends a command (to a page when `sessionId` is given) and returns its result. */
  async send(method: string, params: Record<string, unknown> = {}, sessionId?: string) {
    const id = this.#nextId++;
    const answer = new Promise<Message>((resolve, reject) => this.#pending.set(id, { resolve, reject }));
    this.#socket.send(JSON.stringify({ id, method, params, ...(sessionId ? { sessionId } : {}) }));
    return (await withTimeout(answer, method)).result ?? {};
  }

  /**
   * The next event `method` (of the page `sessionId`): register before causing it, and `cancel` it when
   * it will not come.
   */
  next(method: string, sessionId?: string): { event: Promise<Message>; cancel: () => void } {
    let cancel = () => {};
    const event = new Promise<Message>((resolve, reject) => {
      const waiter = { method, sessionId, resolve };
      this.#waiters.push(waiter);
      cancel = () => {
        this.#waiters = this.#waiters.filter((w) => w !== waiter);
        reject(new Error(`headless Chromium: ${method} cancelled`));
      };
    });
    event.catch(() => {});
    return { event: withTimeout(event, method), cancel };
  }

  async close(): Promise<void> {
    if (this.#socket.readyState === WebSocket.OPEN || this.#socket.readyState === WebSocket.CONNECTING) {
      this.#socket.close();
    }
    await this.#closed;
  }
}

/** Reads Chromium's stderr line by line: finds the DevTools address, keeps the last lines for errors. */
class StderrLog {
  readonly lines: string[] = [];
  readonly address: Promise<string>;
  readonly done: Promise<void>;

  constructor(stream: ReadableStream<Uint8Array>) {
    let found: (url: string) => void = () => {};
    let failed: (error: Error) => void = () => {};
    this.address = new Promise((resolve, reject) => {
      found = resolve;
      failed = reject;
    });
    this.done = (async () => {
      let buffer = "";
      for await (const chunk of stream.pipeThrough(new TextDecoderStream())) {
        buffer += chunk;
        let newline;
        while ((newline = buffer.indexOf("\n")) >= 0) {
          const line = buffer.slice(0, newline);
          buffer = buffer.slice(newline + 1);
          this.lines.push(line);
          if (this.lines.length > 40) this.lines.shift();
          const match = line.match(/DevTools listening on (ws:\/\/\S+)/);
          if (match) found(match[1]);
        }
      }
      failed(new Error(`headless Chromium exited before it listened:\n${this.tail()}`));
    })();
  }

  tail(): string {
    return this.lines.map((line) => `  ${line}`).join("\n");
  }
}

/** One open page (a browser tab) of {@linkcode HeadlessChromium}. */
export class ChromiumPage {
  readonly #connection: DevToolsConnection;
  readonly #sessionId: string;
  readonly #targetId: string;
  /** The window size the page was opened at. */
  readonly viewport: Viewport;

  constructor(connection: DevToolsConnection, sessionId: string, targetId: string, viewport: Viewport) {
    this.#connection = connection;
    this.#sessionId = sessionId;
    this.#targetId = targetId;
    this.viewport = viewport;
  }

  /** Evaluates a JavaScript expression in the page (awaiting a promise) and returns its JSON value. */
  async evaluate<T>(expression: string): Promise<T> {
    const result = await this.#connection.send(
      "Runtime.evaluate",
      { expression, returnByValue: true, awaitPromise: true },
      this.#sessionId,
    ) as { result: { value?: T }; exceptionDetails?: { exception?: { description?: string }; text: string } };
    if (result.exceptionDetails) {
      const details = result.exceptionDetails;
      throw new Error(
        `headless Chromium: ${details.exception?.description ?? details.text} in ${expression}`,
      );
    }
    return result.result.value as T;
  }

  /** The border boxes of every element matching a CSS selector, in document order. */
  boxes(selector: string): Promise<Box[]> {
    return this.evaluate<Box[]>(
      `[...document.querySelectorAll(${JSON.stringify(selector)})].map((element) => {
      const r = element.getBoundingClientRect();
      return { top: r.top + scrollY, bottom: r.bottom + scrollY, left: r.left + scrollX, right: r.right + scrollX,
        width: r.width, height: r.height };
    })`,
    );
  }

  /** The size of the whole document (what scrolling reaches), in CSS pixels. */
  documentSize(): Promise<{ width: number; height: number }> {
    return this.evaluate(
      "({ width: document.documentElement.scrollWidth, height: document.documentElement.scrollHeight })",
    );
  }

  /** A PNG of the window, or of the whole document with `fullPage`. */
  async screenshot(options: { fullPage?: boolean } = {}): Promise<Uint8Array> {
    const params: Record<string, unknown> = { format: "png" };
    if (options.fullPage) {
      const size = await this.documentSize();
      params.captureBeyondViewport = true;
      params.clip = { x: 0, y: 0, width: size.width, height: size.height, scale: 1 };
    }
    const { data } = await this.#connection.send("Page.captureScreenshot", params, this.#sessionId) as {
      data: string;
    };
    return Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
  }

  /** Closes the tab. */
  async close(): Promise<void> {
    await this.#connection.send("Target.closeTarget", { targetId: this.#targetId });
  }
}

/** A headless Chromium process with its own empty profile, driven over the DevTools protocol. */
export class HeadlessChromium {
  readonly #process: Deno.ChildProcess;
  readonly #connection: DevToolsConnection;
  readonly #stderr: StderrLog;
  readonly #profile: string;

  private constructor(
    process: Deno.ChildProcess,
    connection: DevToolsConnection,
    stderr: StderrLog,
    profile: string,
  ) {
    this.#process = process;
    this.#connection = connection;
    this.#stderr = stderr;
    this.#profile = profile;
  }

  /**
   * Starts `chromium` (Debian's, on PATH; `executable` to use another) with {@linkcode CHROMIUM_FLAGS},
   * a new empty profile directory and a DevTools port on 127.0.0.1 that the system picks.
   */
  static async launch(options: { executable?: string } = {}): Promise<HeadlessChromium> {
    const executable = options.executable ?? "chromium";
    const profile = await Deno.makeTempDir({ prefix: "zsl-chromium-" });
    let process: Deno.ChildProcess;
    try {
      process = new Deno.Command(executable, {
        args: [...CHROMIUM_FLAGS, `--user-data-dir=${profile}`, "--remote-debugging-port=0", "about:blank"],
        stdin: "null",
        stdout: "null",
        stderr: "piped",
      }).spawn();
    } catch (error) {
      await Deno.remove(profile, { recursive: true });
      if (error instanceof Deno.errors.NotFound) {
        throw new Error(
          `headless Chromium: no ${executable} on PATH; install it (deno task setup --tests, or as root: ` +
            "apt-get install chromium)",
        );
      }
      throw error;
    }
    const stderr = new StderrLog(process.stderr);
    try {
      const address = await withTimeout(stderr.address, "starting");
      return new HeadlessChromium(process, await DevToolsConnection.open(address), stderr, profile);
    } catch (error) {
      try {
        process.kill("SIGKILL");
      } catch { /* already gone */ }
      await process.status;
      await stderr.done;
      await Deno.remove(profile, { recursive: true });
      throw error;
    }
  }

  /**
   * Opens a local file (a path, or a file:, data: or about: URL) in a new tab with the window at `viewport`, and
   * returns once the page has loaded, its images are decoded and its fonts are ready.
   */
  async open(file: string, viewport: Viewport): Promise<ChromiumPage> {
    try {
      return await this.#open(file, viewport);
    } catch (error) {
      throw new Error(`${(error as Error).message}\nChromium's last lines on stderr:\n${this.log}`);
    }
  }

  async #open(file: string, viewport: Viewport): Promise<ChromiumPage> {
    const url = /^(file|data|about):/.test(file) ? file : pathToFileURL(resolve(file)).href;
    const connection = this.#connection;
    const { targetId } = await connection.send("Target.createTarget", { url: "about:blank" }) as {
      targetId: string;
    };
    const { sessionId } = await connection.send("Target.attachToTarget", { targetId, flatten: true }) as {
      sessionId: string;
    };
    await connection.send("Page.enable", {}, sessionId);
    await connection.send("Emulation.setDeviceMetricsOverride", {
      width: viewport.width,
      height: viewport.height,
      deviceScaleFactor: 1,
      mobile: false,
    }, sessionId);
    const loaded = connection.next("Page.loadEventFired", sessionId);
    const navigation = await connection.send("Page.navigate", { url }, sessionId)
      .catch((error) => ({ errorText: String(error) })) as { errorText?: string };
    if (navigation.errorText) {
      loaded.cancel();
      await loaded.event.catch(() => {});
      await connection.send("Target.closeTarget", { targetId });
      throw new Error(`headless Chromium: cannot open ${url}: ${navigation.errorText}`);
    }
    await loaded.event;
    const page = new ChromiumPage(connection, sessionId, targetId, viewport);
    await page.evaluate(`Promise.all([...document.images].map((image) =>
      image.complete ? null : new Promise((done) => { image.onload = image.onerror = done; })))
      .then(() => document.fonts.ready)
      .then(() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done))))
      .then(() => true)`);
    return page;
  }

  /** Chromium's last lines on stderr (for a failure message). */
  get log(): string {
    return this.#stderr.tail();
  }

  /** Closes the browser, waits for it to exit, and removes its profile. */
  async close(): Promise<void> {
    try {
      await withTimeout(this.#connection.send("Browser.close"), "closing", 10_000);
    } catch {
      try {
        this.#process.kill("SIGKILL");
      } catch { /* already gone */ }
    }
    await this.#connection.close();
    await withTimeout(this.#process.status, "exiting", 20_000).catch(() => {
      try {
        this.#process.kill("SIGKILL");
      } catch { /* already gone */ }
      return this.#process.status;
    });
    await this.#stderr.done;
    await Deno.remove(this.#profile, { recursive: true }).catch(() => {});
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}

/** The width and height of a PNG, from its IHDR chunk; throws when the bytes are not a PNG. */
export function pngSize(png: Uint8Array): { width: number; height: number } {
  const signature = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  if (png.length < 24 || !signature.every((byte, i) => png[i] === byte)) throw new Error("not a PNG");
  const view = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: view.getUint32(16), height: view.getUint32(20) };
}
