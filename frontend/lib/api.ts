// The REST client: the access token lives in memory only and is renewed through the
// refresh cookie (one refresh at a time, shared by every caller).

export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = "ApiError";
  }
}

type Fetch = (input: string, init?: RequestInit) => Promise<Response>;

export interface TokenOut {
  access_token: string;
  token_type: string;
  expires_in: number;
}

/** A person-readable message from a `{"detail": ...}` body (a string, or FastAPI's validation list). */
export function detailMessage(body: unknown, status: number): string {
  const detail = (body as { detail?: unknown } | null)?.detail;
  if (typeof detail === "string") return detail;
  if (Array.isArray(detail)) {
    const parts = detail
      .map((item) => {
        const entry = item as { loc?: unknown[]; msg?: string };
        const field = Array.isArray(entry.loc) ? entry.loc.filter((p) => p !== "body").join(".") : "";
        return entry.msg ? (field ? `${field}: ${entry.msg}` : entry.msg) : null;
      })
      .filter(Boolean);
    if (parts.length) return parts.join("; ");
  }
  if (status === 429) return "Too many attempts. Please wait a moment and try again.";
  if (status >= 500) return "The server is unavailable right now. Please try again.";
  return `Request failed (${status})`;
}

export interface ApiClientOptions {
  fetch?: Fetch;
  now?: () => number;
  onAuthLost?: () => void;
}

export class ApiClient {
  private token: string | null = null;
  private expiresAt = 0;
  private refreshing: Promise<string | null> | null = null;
  private readonly fetchImpl: Fetch;
  private readonly now: () => number;
  onAuthLost: (() => void) | undefined;

  constructor(options: ApiClientOptions = {}) {
    this.fetchImpl = options.fetch ?? ((input, init) => fetch(input, init));
    this.now = options.now ?? (() => Date.now());
    this.onAuthLost = options.onAuthLost;
  }

  get hasToken(): boolean {
    return this.token !== null;
  }

  /** A token valid for at least 30 more seconds, refreshed through the cookie when needed. */
  async getToken(forceRefresh = false): Promise<string | null> {
    if (!forceRefresh && this.token && this.expiresAt - this.now() > 30_000) return this.token;
    return this.refresh();
  }

  refresh(): Promise<string | null> {
    if (!this.refreshing) {
      this.refreshing = this.doRefresh().finally(() => {
        this.refreshing = null;
      });
    }
    return this.refreshing;
  }

  private async doRefresh(): Promise<string | null> {
    try {
      const response = await this.fetchImpl("/api/auth/refresh", { method: "POST", credentials: "same-origin" });
      if (!response.ok) {
        this.clear();
        return null;
      }
      this.accept((await response.json()) as TokenOut);
      return this.token;
    } catch {
      // Offline: keep what we have, the caller retries later.
      return null;
    }
  }

  private accept(out: TokenOut): void {
    this.token = out.access_token;
    this.expiresAt = this.now() + out.expires_in * 1000;
  }

  clear(): void {
    this.token = null;
    this.expiresAt = 0;
  }

  async login(email: string, password: string): Promise<void> {
    const out = await this.request<TokenOut>("POST", "/api/auth/login", { email, password }, { auth: false });
    this.accept(out);
  }

  async logout(): Promise<void> {
    try {
      await this.request<void>("POST", "/api/auth/logout", undefined, { retryAuth: false });
    } finally {
      this.clear();
    }
  }

  /** The response of an authenticated call, after one refresh-and-retry on 401; errors as ApiError. */
  async fetchWithAuth(
    method: string,
    path: string,
    body?: unknown,
    options: { auth?: boolean; retryAuth?: boolean } = {},
  ): Promise<Response> {
    const auth = options.auth ?? true;
    const send = async (token: string | null): Promise<Response> => {
      const headers: Record<string, string> = { Accept: "application/json" };
      if (body !== undefined) headers["Content-Type"] = "application/json";
      if (auth && token) headers.Authorization = `Bearer ${token}`;
      try {
        return await this.fetchImpl(path, {
          method,
          headers,
          body: body === undefined ? undefined : JSON.stringify(body),
          credentials: "same-origin",
        });
      } catch {
        throw new ApiError(0, "Cannot reach the server. Check your connection.");
      }
    };
    let response = await send(auth ? await this.getToken() : null);
    if (auth && response.status === 401 && options.retryAuth !== false) {
      const token = await this.refresh();
      if (token) response = await send(token);
      if (!token || response.status === 401) {
        this.clear();
        this.onAuthLost?.();
        throw new ApiError(401, "Your session has ended. Please log in again.");
      }
    }
    if (!response.ok) {
      const text = await response.text();
      let parsed: unknown = null;
      try {
        parsed = text ? JSON.parse(text) : null;
      } catch {
        parsed = null;
      }
      throw new ApiError(response.status, detailMessage(parsed, response.status));
    }
    return response;
  }

  async request<T>(
    method: string,
    path: string,
    body?: unknown,
    options: { auth?: boolean; retryAuth?: boolean } = {},
  ): Promise<T> {
    const response = await this.fetchWithAuth(method, path, body, options);
    if (response.status === 204) return undefined as T;
    const text = await response.text();
    return (text ? JSON.parse(text) : null) as T;
  }
}
