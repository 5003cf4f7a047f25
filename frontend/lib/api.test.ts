import { describe, expect, it, vi } from "vitest";
import { ApiClient, ApiError, detailMessage } from "./api";

function json(status: number, body: unknown): Response {
  return new Response(body === undefined ? null : JSON.stringify(body), { status, headers: { "Content-Type": "application/json" } });
}

describe("ApiClient", () => {
  it("refreshes through the cookie once for concurrent callers, then retries with the new token", async () => {
    let refreshes = 0;
    const fetch = vi.fn(async (url: string, init?: RequestInit) => {
      if (url === "/api/auth/refresh") {
        refreshes += 1;
        await new Promise((r) => setTimeout(r, 5));
        return json(200, { access_token: "fresh", token_type: "bearer", expires_in: 900 });
      }
      const auth = (init?.headers as Record<string, string>).Authorization;
      return auth === "Bearer fresh" ? json(200, { ok: true }) : json(401, { detail: "expired" });
    });
    const api = new ApiClient({ fetch });
    const results = await Promise.all([api.request("GET", "/a"), api.request("GET", "/b")]);
    expect(results).toEqual([{ ok: true }, { ok: true }]);
    expect(refreshes).toBe(1);
  });

  it("renews a token that is about to expire before using it", async () => {
    let now = 0;
    const fetch = vi.fn(async (url: string) =>
      url === "/api/auth/refresh"
        ? json(200, { access_token: `t${now}`, token_type: "bearer", expires_in: 60 })
        : json(200, {}),
    );
    const api = new ApiClient({ fetch, now: () => now });
    expect(await api.getToken()).toBe("t0");
    now = 20_000;
    expect(await api.getToken()).toBe("t0");
    now = 40_000; // 20 s left: under the 30 s margin
    expect(await api.getToken()).toBe("t40000");
  });

  it("reports a lost session when the refresh cookie is refused", async () => {
    const onAuthLost = vi.fn();
    const fetch = vi.fn(async () => json(401, { detail: "no" }));
    const api = new ApiClient({ fetch, onAuthLost });
    await expect(api.request("GET", "/x")).rejects.toMatchObject({ status: 401 });
    expect(onAuthLost).toHaveBeenCalledOnce();
  });

  it("turns error bodies into messages for people", async () => {
    const fetch = vi.fn(async () => json(409, { detail: "email already registered" }));
    const api = new ApiClient({ fetch });
    const error = await api.request("POST", "/api/auth/register", {}, { auth: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ApiError);
    expect((error as ApiError).message).toBe("email already registered");
  });

  it("says the server is unreachable when fetch itself fails", async () => {
    const api = new ApiClient({ fetch: async () => Promise.reject(new TypeError("network")) });
    await expect(api.request("GET", "/x", undefined, { auth: false })).rejects.toMatchObject({ status: 0 });
  });
});

describe("detailMessage", () => {
  it("joins FastAPI validation errors with their fields", () => {
    const body = { detail: [{ loc: ["body", "password"], msg: "too short" }, { loc: ["body", "email"], msg: "invalid" }] };
    expect(detailMessage(body, 422)).toBe("password: too short; email: invalid");
  });

  it("never shows a raw body for server errors", () => {
    expect(detailMessage("<html>Traceback", 502)).toBe("The server is unavailable right now. Please try again.");
  });
});
