import { describe, expect, it } from "vitest";
import { ApiClient } from "./api";
import { catalogApi, keyLabel, modelBody, modelForm, providerBody } from "./catalog";

describe("catalog", () => {
  it("shows only the last four characters of a key", () => {
    expect(keyLabel({ has_key: true, key_last4: "abcd" })).toBe("•••• abcd");
    expect(keyLabel({ has_key: true, key_last4: null })).toBe("••••");
    expect(keyLabel({ has_key: false, key_last4: null })).toBe("no key");
  });

  it("keeps, replaces or removes a provider's key", () => {
    const form = { name: " p ", baseUrl: " http://h/v1 ", apiKey: "", removeKey: false };
    expect(providerBody(form, true)).toEqual({ name: "p", base_url: "http://h/v1" });
    expect(providerBody({ ...form, apiKey: "sk-1" }, true)).toEqual({ name: "p", base_url: "http://h/v1", api_key: "sk-1" });
    expect(providerBody({ ...form, apiKey: "sk-1", removeKey: true }, true).api_key).toBe("");
    expect(providerBody({ ...form, removeKey: true }, false)).toEqual({ name: "p", base_url: "http://h/v1" });
  });

  it("turns the model form into a body", () => {
    const form = { ...modelForm(undefined, "prov"), name: "m", upstream: "up", defaults: '{"top_p": 0.9}', inputPrice: "0.5" };
    expect(modelBody(form)).toEqual({
      name: "m",
      provider_id: "prov",
      upstream: "up",
      enabled: true,
      context_window: 8192,
      max_tokens: 1024,
      input_price_per_mtok: 0.5,
      output_price_per_mtok: 0,
      concurrency: null,
      defaults: { top_p: 0.9 },
    });
    expect(modelBody({ ...form, concurrency: "4" }).concurrency).toBe(4);
  });

  it("names the field that is wrong", () => {
    const form = { ...modelForm(undefined, "prov"), name: "m", upstream: "up" };
    expect(() => modelBody({ ...form, defaults: "[1]" })).toThrow(/JSON object/);
    expect(() => modelBody({ ...form, defaults: "{oops" })).toThrow(/JSON object/);
    expect(() => modelBody({ ...form, maxTokens: "1.5" })).toThrow(/Max tokens/);
    expect(() => modelBody({ ...form, providerId: "" })).toThrow(/provider/);
  });

  it("round-trips a stored model through the form", () => {
    const stored = {
      id: "1", name: "m", provider_id: "p", upstream: "u", enabled: false, context_window: 100, max_tokens: 10,
      input_price_per_mtok: 1, output_price_per_mtok: 2, concurrency: 3, defaults: { a: 1 }, created_at: "", updated_at: "",
    };
    const { id: _id, created_at: _c, updated_at: _u, ...body } = stored;
    expect(modelBody(modelForm(stored))).toEqual(body);
  });

  it("sends the admin's changes and surfaces the detail of a refusal", async () => {
    const calls: { method?: string; url: string; body?: unknown }[] = [];
    const api = new ApiClient({
      fetch: async (url, init) => {
        if (url === "/api/auth/refresh") return new Response(JSON.stringify({ access_token: "t", token_type: "bearer", expires_in: 900 }));
        calls.push({ method: init?.method, url, body: init?.body ? JSON.parse(String(init.body)) : undefined });
        return new Response(JSON.stringify({ detail: "a provider named p exists" }), { status: 409 });
      },
    });
    await expect(catalogApi.createProvider(api, { name: "p", base_url: "http://h" })).rejects.toThrow("a provider named p exists");
    expect(calls).toEqual([{ method: "POST", url: "/api/auth/catalog/providers", body: { name: "p", base_url: "http://h" } }]);
  });
});
