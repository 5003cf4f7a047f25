// The chat socket: authenticates with `hello`, resumes its session after a drop
// (with backoff), keeps the session's `seq` so that no stream frame is applied twice.
import {
  CLOSE_AUTH,
  CLOSE_FORBIDDEN,
  CLOSE_TAKEN_OVER,
  type ClientFrame,
  type ServerFrame,
  isStreamFrame,
  parseServerFrame,
} from "./protocol";

export type ConnectionStatus = "idle" | "connecting" | "open" | "reconnecting" | "closed";

/** The part of the browser's WebSocket this client uses (so tests can fake it). */
export interface SocketLike {
  readonly readyState: number;
  send(data: string): void;
  close(code?: number, reason?: string): void;
  onopen: ((event: Event) => void) | null;
  onmessage: ((event: MessageEvent) => void) | null;
  onclose: ((event: CloseEvent) => void) | null;
  onerror: ((event: Event) => void) | null;
}

/** Where the session survives a reload (the tab's sessionStorage in the browser). */
export interface SessionStore {
  load(): { sessionId: string | null; lastSeq: number | null };
  save(sessionId: string | null, lastSeq: number | null): void;
}

export interface ChatSocketOptions {
  url: string;
  /** A valid access token; `refresh` true after the server refused the last one. */
  getToken: (refresh: boolean) => Promise<string | null>;
  createSocket: (url: string) => SocketLike;
  store?: SessionStore;
  /** Called when no token can be had: the user must log in again. */
  onAuthLost?: () => void;
  backoff?: (attempt: number) => number;
  setTimer?: (fn: () => void, ms: number) => unknown;
  clearTimer?: (handle: unknown) => void;
  pingIntervalMs?: number;
}

const OPEN = 1;

export function defaultBackoff(attempt: number): number {
  const base = Math.min(30_000, 500 * 2 ** Math.min(attempt, 6));
  return base / 2 + Math.random() * (base / 2);
}

export function memoryStore(): SessionStore {
  let state: { sessionId: string | null; lastSeq: number | null } = { sessionId: null, lastSeq: null };
  return { load: () => state, save: (sessionId, lastSeq) => (state = { sessionId, lastSeq }) };
}

export class ChatSocket {
  private socket: SocketLike | null = null;
  private status: ConnectionStatus = "idle";
  private sessionId: string | null;
  private lastSeq: number | null;
  private ready = false;
  private attempt = 0;
  private stopped = true;
  private authRetried = false;
  private reconnectTimer: unknown = null;
  private pingTimer: unknown = null;
  private outbox: ClientFrame[] = [];
  private sentToken: string | null = null;
  private readonly frameListeners = new Set<(frame: ServerFrame) => void>();
  private readonly statusListeners = new Set<(status: ConnectionStatus) => void>();
  private readonly store: SessionStore;
  private readonly setTimer: (fn: () => void, ms: number) => unknown;
  private readonly clearTimer: (handle: unknown) => void;

  constructor(private readonly options: ChatSocketOptions) {
    this.store = options.store ?? memoryStore();
    const saved = this.store.load();
    this.sessionId = saved.sessionId;
    this.lastSeq = saved.lastSeq;
    this.setTimer = options.setTimer ?? ((fn, ms) => setTimeout(fn, ms));
    this.clearTimer = options.clearTimer ?? ((handle) => clearTimeout(handle as ReturnType<typeof setTimeout>));
  }

  get connectionStatus(): ConnectionStatus {
    return this.status;
  }

  get session(): { sessionId: string | null; lastSeq: number | null } {
    return { sessionId: this.sessionId, lastSeq: this.lastSeq };
  }

  onFrame(listener: (frame: ServerFrame) => void): () => void {
    this.frameListeners.add(listener);
    return () => this.frameListeners.delete(listener);
  }

  onStatus(listener: (status: ConnectionStatus) => void): () => void {
    this.statusListeners.add(listener);
    return () => this.statusListeners.delete(listener);
  }

  start(): void {
    if (!this.stopped) return;
    this.stopped = false;
    void this.connect();
  }

  stop(): void {
    this.stopped = true;
    this.clearTimers();
    const socket = this.socket;
    this.socket = null;
    this.ready = false;
    if (socket) {
      socket.onclose = null;
      socket.close(1000, "bye");
    }
    this.setStatus("closed");
  }

  /** Sends now when the session is ready, else after the next `ready` (prompts are not lost in a reconnect). */
  send(frame: ClientFrame): void {
    if (this.ready && this.socket?.readyState === OPEN) {
      this.socket.send(JSON.stringify(frame));
    } else {
      this.outbox.push(frame);
    }
  }

  /** Renews the token on the open socket (a later `hello` of the same session). */
  async renewToken(): Promise<void> {
    if (!this.ready || !this.socket) return;
    const token = await this.options.getToken(false);
    if (token && token !== this.sentToken && this.socket?.readyState === OPEN) {
      this.sentToken = token;
      this.socket.send(JSON.stringify(this.hello(token)));
    }
  }

  private hello(token: string): ClientFrame {
    return { type: "hello", token, session_id: this.sessionId, last_seq: this.lastSeq };
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    this.setStatus(this.attempt === 0 && this.sessionId === null ? "connecting" : "reconnecting");
    const token = await this.options.getToken(this.authRetried);
    if (this.stopped) return;
    if (!token) {
      this.stopped = true;
      this.setStatus("closed");
      this.options.onAuthLost?.();
      return;
    }
    const socket = this.options.createSocket(this.options.url);
    this.socket = socket;
    socket.onopen = () => {
      this.sentToken = token;
      socket.send(JSON.stringify(this.hello(token)));
    };
    socket.onmessage = (event) => this.handle(event.data);
    socket.onerror = () => undefined; // onclose follows and decides
    socket.onclose = (event) => this.closed(socket, event.code);
  }

  private handle(data: unknown): void {
    const frame = parseServerFrame(data);
    if (!frame) return;
    if (frame.type === "ready") {
      if (frame.session_id !== this.sessionId) this.lastSeq = null;
      this.sessionId = frame.session_id;
      this.ready = true;
      this.attempt = 0;
      this.authRetried = false;
      this.store.save(this.sessionId, this.lastSeq);
      this.setStatus("open");
      this.startPing();
      this.flush();
    } else if (isStreamFrame(frame)) {
      // The server counts on from the `last_seq` we gave it: anything at or below was applied.
      if (this.lastSeq !== null && frame.seq <= this.lastSeq) return;
      this.lastSeq = frame.seq;
      this.store.save(this.sessionId, this.lastSeq);
    }
    for (const listener of this.frameListeners) listener(frame);
  }

  private flush(): void {
    const pending = this.outbox;
    this.outbox = [];
    for (const frame of pending) this.send(frame);
  }

  private closed(socket: SocketLike, code: number): void {
    if (socket !== this.socket) return;
    this.socket = null;
    this.ready = false;
    this.clearTimers();
    if (this.stopped) return;
    if (code === CLOSE_FORBIDDEN) {
      // Not our session (another user's in this tab's storage): start a new one.
      this.sessionId = null;
      this.lastSeq = null;
      this.store.save(null, null);
    }
    if (code === CLOSE_TAKEN_OVER) {
      // Another tab took this session: do not fight over it.
      this.stopped = true;
      this.setStatus("closed");
      return;
    }
    if (code === CLOSE_AUTH) {
      if (this.authRetried) {
        this.stopped = true;
        this.setStatus("closed");
        this.options.onAuthLost?.();
        return;
      }
      this.authRetried = true;
      void this.connect();
      return;
    }
    const delay = (this.options.backoff ?? defaultBackoff)(this.attempt);
    this.attempt += 1;
    this.setStatus("reconnecting");
    this.reconnectTimer = this.setTimer(() => void this.connect(), delay);
  }

  private startPing(): void {
    const interval = this.options.pingIntervalMs ?? 25_000;
    // A renewing `hello` is answered by `ready` again: keep one ping loop.
    if (this.pingTimer !== null) this.clearTimer(this.pingTimer);
    this.pingTimer = null;
    if (interval <= 0) return;
    const tick = () => {
      if (this.ready && this.socket?.readyState === OPEN) this.socket.send(JSON.stringify({ type: "ping" }));
      this.pingTimer = this.setTimer(tick, interval);
    };
    this.pingTimer = this.setTimer(tick, interval);
  }

  private clearTimers(): void {
    if (this.reconnectTimer !== null) this.clearTimer(this.reconnectTimer);
    if (this.pingTimer !== null) this.clearTimer(this.pingTimer);
    this.reconnectTimer = null;
    this.pingTimer = null;
  }

  private setStatus(status: ConnectionStatus): void {
    if (status === this.status) return;
    this.status = status;
    for (const listener of this.statusListeners) listener(status);
  }
}

export function sessionStorageStore(key = "parley.session"): SessionStore {
  return {
    load() {
      try {
        const raw = window.sessionStorage.getItem(key);
        if (!raw) return { sessionId: null, lastSeq: null };
        const parsed = JSON.parse(raw) as { sessionId?: unknown; lastSeq?: unknown };
        return {
          sessionId: typeof parsed.sessionId === "string" ? parsed.sessionId : null,
          lastSeq: typeof parsed.lastSeq === "number" ? parsed.lastSeq : null,
        };
      } catch {
        return { sessionId: null, lastSeq: null };
      }
    },
    save(sessionId, lastSeq) {
      try {
        window.sessionStorage.setItem(key, JSON.stringify({ sessionId, lastSeq }));
      } catch {
        // storage full or disabled: resume then only works within this page
      }
    },
  };
}
